/* SPDX-License-Identifier: MIT */
/*
 * Image references as podman and docker write them:
 *
 *   [REGISTRY/]REPOSITORY[:TAG][@sha256:HEX]
 *
 * REGISTRY is the first component when it has a '.' or a ':' or is
 * "localhost"; otherwise the default, docker.io, where a one-component
 * repository is under library/ ("debian" is docker.io/library/debian).
 * The tag is "latest" when neither a tag nor a digest is given.  Everything
 * is checked against the distribution spec's grammar: a bad reference is
 * refused with what is wrong with it.
 */
#ifndef ISOFS_REGISTRY_REF_H
#define ISOFS_REGISTRY_REF_H

#include <stddef.h>

#include "digest.h"
#include "isofs.h"

#define REGISTRY_DEFAULT "docker.io"
/* Where docker.io's API answers. */
#define REGISTRY_DOCKER_HUB_HOST "registry-1.docker.io"
#define REGISTRY_REPOSITORY_MAX 255
#define REGISTRY_TAG_MAX 128

typedef struct registry_ref {
	char registry[256];                      /* "host[:port]" */
	char repository[REGISTRY_REPOSITORY_MAX + 1]; /* "library/debian" */
	char tag[REGISTRY_TAG_MAX + 1];          /* "" when only a digest was given */
	char digest[DIGEST_STRING_MAX];          /* "" when none */
} registry_ref;

/* 0, or -EINVAL with "invalid reference 'S': <why>" in err. */
int registry_ref_parse(const char *s, registry_ref *ret_ref, isofs_error *err);

/* The host (and port) the API is at: docker.io's is registry-1.docker.io. */
const char *registry_ref_host(const registry_ref *ref);

/* What manifests/<reference> is asked for: the digest when there is one, else the tag. */
const char *registry_ref_reference(const registry_ref *ref);

/* "registry/repository[:tag][@digest]", the reference written out in full. */
void registry_ref_format(const registry_ref *ref, char *buf, size_t size);

/*
 * The image name a pull uses when none is given: the repository's last
 * component, "-", and the tag ("debian-bookworm"), or the digest's first 12
 * hex digits when there is no tag.  -EINVAL when that makes no valid image
 * name (too long).
 */
int registry_ref_image_name(const registry_ref *ref, char ret_name[ISOFS_NAME_MAX + 1], isofs_error *err);

#endif

/* SPDX-License-Identifier: MIT */
#ifndef ISOFS_STORE_PROBE_H
#define ISOFS_STORE_PROBE_H

#include "isofs.h"

/* Checks, once per store, that its file system holds what layers need (store-probe.c); a one-line reason when not. */
int store_probe(int store_fd, int tmp_fd, const char *store_path, isofs_error *err);

#endif

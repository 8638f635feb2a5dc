/* SPDX-License-Identifier: MIT */
/*
 * --net=private: the sandbox in a network namespace of its own, reaching out
 * through slirp4netns (Debian package slirp4netns), a user-mode TCP/IP stack
 * on the host side: no host interface, no host localhost, no host abstract
 * unix socket is shared.  Inside: tap0 10.0.2.100/24, the gateway 10.0.2.2
 * (the host; its loopback services too, as slirp4netns has it by default),
 * DNS at 10.0.2.3.
 */
#ifndef ISOFS_NET_PRIVATE_H
#define ISOFS_NET_PRIVATE_H

#include <stddef.h>
#include <sys/types.h>

#define NET_PRIVATE_DNS "10.0.2.3"
#define NET_PRIVATE_GATEWAY "10.0.2.2"

/*
 * Connects the network namespace of `target` (and joins its user namespace
 * to do so): returns once tap0 is configured, with the fd whose closing ends
 * slirp4netns (keep it as long as the sandbox lives).  -errno with a
 * one-line reason in errbuf: slirp4netns missing, /dev/net/tun closed to us…
 */
int net_private_start(pid_t target, int *ret_exit_fd, char *errbuf, size_t errlen);

#endif

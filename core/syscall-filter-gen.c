/* SPDX-License-Identifier: MIT */
/*
 * Build-time tool: writes the default seccomp filter (no capability that
 * unlocks a call kept), compiled by libseccomp from syscall-filter-rules.c,
 * as C source for the library (syscall-filter.c).  It must run as the
 * target's code (a cross build needs meson's exe_wrapper): the BPF names the
 * target's architectures and system call numbers.
 *   syscall-filter-gen OUTPUT.c
 */
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "syscall-filter.h"

int main(int argc, char **argv)
{
	struct syscall_filter f = { 0 };
	isofs_error err = { 0 };
	FILE *out;

	if (argc != 2) {
		fprintf(stderr, "usage: syscall-filter-gen OUTPUT.c\n");
		return 2;
	}
	/*
	 * The kernel it runs on: libseccomp would probe the build machine's (and
	 * fail where seccomp(2) is missing, as under qemu-user).  Level 3: kill
	 * the process, as the filter's bad-architecture action does (Linux 4.14).
	 */
	if (seccomp_api_set(3) < 0) {
		fprintf(stderr, "syscall-filter-gen: libseccomp API level 3 not available\n");
		return 1;
	}
	if (syscall_filter_compile(NULL, 0, &f, &err) < 0) {
		fprintf(stderr, "syscall-filter-gen: %s\n", err.message);
		return 1;
	}
	out = fopen(argv[1], "we");
	if (!out) {
		perror(argv[1]);
		return 1;
	}
	fprintf(out, "/* Generated at build time by syscall-filter-gen (core/syscall-filter-rules.c): do not edit. */\n"
		     "#include \"syscall-filter.h\"\n\n"
		     "const unsigned short syscall_filter_default_len = %u;\n"
		     "const struct sock_filter syscall_filter_default_insns[] = {\n", f.len);
	for (unsigned i = 0; i < f.len; i++)
		fprintf(out, "\t{ 0x%04x, %u, %u, 0x%08x },\n", f.insns[i].code, f.insns[i].jt, f.insns[i].jf,
			f.insns[i].k);
	fprintf(out, "};\n");
	free(f.insns);
	if (fclose(out) != 0) {
		perror(argv[1]);
		return 1;
	}
	return 0;
}

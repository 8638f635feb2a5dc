/* SPDX-License-Identifier: MIT */
/*
 * libarchive, loaded when first needed.  Only image import, export and
 * bootstrap use it, and with what it pulls in (libxml2, ICU, libstdc++…)
 * linking it costs every process 1.5 ms at exec — 15% of a sandbox start.
 * The files that use it include this header instead of <archive.h>: each
 * archive_* call goes through a table that dlopen fills, typed from
 * libarchive's own headers.  Entry points call archive_lib_load() first.
 */
#pragma once
#include <archive.h>
#include <archive_entry.h>

#include "isofs.h"

#define ARCHIVE_LIB_SONAME "libarchive.so.13"

#define ARCHIVE_LIB_FUNCS(X) \
	X(archive_entry_acl_count) \
	X(archive_entry_atime) \
	X(archive_entry_atime_is_set) \
	X(archive_entry_atime_nsec) \
	X(archive_entry_clear) \
	X(archive_entry_copy_pathname) \
	X(archive_entry_copy_stat) \
	X(archive_entry_copy_symlink) \
	X(archive_entry_filetype) \
	X(archive_entry_free) \
	X(archive_entry_gid) \
	X(archive_entry_hardlink) \
	X(archive_entry_linkify) \
	X(archive_entry_linkresolver_free) \
	X(archive_entry_linkresolver_new) \
	X(archive_entry_linkresolver_set_strategy) \
	X(archive_entry_mtime) \
	X(archive_entry_mtime_is_set) \
	X(archive_entry_mtime_nsec) \
	X(archive_entry_new) \
	X(archive_entry_pathname) \
	X(archive_entry_perm) \
	X(archive_entry_rdev) \
	X(archive_entry_set_filetype) \
	X(archive_entry_set_gid) \
	X(archive_entry_set_mtime) \
	X(archive_entry_set_perm) \
	X(archive_entry_set_size) \
	X(archive_entry_set_uid) \
	X(archive_entry_size) \
	X(archive_entry_size_is_set) \
	X(archive_entry_sparse_count) \
	X(archive_entry_symlink) \
	X(archive_entry_uid) \
	X(archive_entry_unset_atime) \
	X(archive_entry_unset_birthtime) \
	X(archive_entry_unset_ctime) \
	X(archive_entry_xattr_add_entry) \
	X(archive_entry_xattr_next) \
	X(archive_entry_xattr_reset) \
	X(archive_error_string) \
	X(archive_file_count) \
	X(archive_read_data) \
	X(archive_read_data_block) \
	X(archive_read_disk_descend) \
	X(archive_read_disk_new) \
	X(archive_read_disk_open) \
	X(archive_read_disk_set_behavior) \
	X(archive_read_disk_set_symlink_physical) \
	X(archive_read_free) \
	X(archive_read_new) \
	X(archive_read_next_header) \
	X(archive_read_next_header2) \
	X(archive_read_open) \
	X(archive_read_support_filter_all) \
	X(archive_read_support_filter_gzip) \
	X(archive_read_support_filter_zstd) \
	X(archive_read_support_format_raw) \
	X(archive_read_support_format_tar) \
	X(archive_set_error) \
	X(archive_write_close) \
	X(archive_write_data) \
	X(archive_write_free) \
	X(archive_write_header) \
	X(archive_write_new) \
	X(archive_write_open) \
	X(archive_write_open_fd) \
	X(archive_write_set_bytes_in_last_block) \
	X(archive_write_set_format_option) \
	X(archive_write_set_format_pax_restricted)

struct archive_lib {
#define ARCHIVE_LIB_MEMBER(f) __typeof__(&f) f;
	ARCHIVE_LIB_FUNCS(ARCHIVE_LIB_MEMBER)
#undef ARCHIVE_LIB_MEMBER
};

extern struct archive_lib archive_lib;

/* Loads libarchive once (thread-safe): 0, or -ELIBACC with the reason in err (may be NULL). */
int archive_lib_load(isofs_error *err);

#ifndef ARCHIVE_LIB_NO_REDIRECT
/* A macro naming itself is not expanded again: archive_lib.<name> is the table's member. */
#define archive_entry_acl_count archive_lib.archive_entry_acl_count
#define archive_entry_atime archive_lib.archive_entry_atime
#define archive_entry_atime_is_set archive_lib.archive_entry_atime_is_set
#define archive_entry_atime_nsec archive_lib.archive_entry_atime_nsec
#define archive_entry_clear archive_lib.archive_entry_clear
#define archive_entry_copy_pathname archive_lib.archive_entry_copy_pathname
#define archive_entry_copy_stat archive_lib.archive_entry_copy_stat
#define archive_entry_copy_symlink archive_lib.archive_entry_copy_symlink
#define archive_entry_filetype archive_lib.archive_entry_filetype
#define archive_entry_free archive_lib.archive_entry_free
#define archive_entry_gid archive_lib.archive_entry_gid
#define archive_entry_hardlink archive_lib.archive_entry_hardlink
#define archive_entry_linkify archive_lib.archive_entry_linkify
#define archive_entry_linkresolver_free archive_lib.archive_entry_linkresolver_free
#define archive_entry_linkresolver_new archive_lib.archive_entry_linkresolver_new
#define archive_entry_linkresolver_set_strategy archive_lib.archive_entry_linkresolver_set_strategy
#define archive_entry_mtime archive_lib.archive_entry_mtime
#define archive_entry_mtime_is_set archive_lib.archive_entry_mtime_is_set
#define archive_entry_mtime_nsec archive_lib.archive_entry_mtime_nsec
#define archive_entry_new archive_lib.archive_entry_new
#define archive_entry_pathname archive_lib.archive_entry_pathname
#define archive_entry_perm archive_lib.archive_entry_perm
#define archive_entry_rdev archive_lib.archive_entry_rdev
#define archive_entry_set_filetype archive_lib.archive_entry_set_filetype
#define archive_entry_set_gid archive_lib.archive_entry_set_gid
#define archive_entry_set_mtime archive_lib.archive_entry_set_mtime
#define archive_entry_set_perm archive_lib.archive_entry_set_perm
#define archive_entry_set_size archive_lib.archive_entry_set_size
#define archive_entry_set_uid archive_lib.archive_entry_set_uid
#define archive_entry_size archive_lib.archive_entry_size
#define archive_entry_size_is_set archive_lib.archive_entry_size_is_set
#define archive_entry_sparse_count archive_lib.archive_entry_sparse_count
#define archive_entry_symlink archive_lib.archive_entry_symlink
#define archive_entry_uid archive_lib.archive_entry_uid
#define archive_entry_unset_atime archive_lib.archive_entry_unset_atime
#define archive_entry_unset_birthtime archive_lib.archive_entry_unset_birthtime
#define archive_entry_unset_ctime archive_lib.archive_entry_unset_ctime
#define archive_entry_xattr_add_entry archive_lib.archive_entry_xattr_add_entry
#define archive_entry_xattr_next archive_lib.archive_entry_xattr_next
#define archive_entry_xattr_reset archive_lib.archive_entry_xattr_reset
#define archive_error_string archive_lib.archive_error_string
#define archive_file_count archive_lib.archive_file_count
#define archive_read_data archive_lib.archive_read_data
#define archive_read_data_block archive_lib.archive_read_data_block
#define archive_read_disk_descend archive_lib.archive_read_disk_descend
#define archive_read_disk_new archive_lib.archive_read_disk_new
#define archive_read_disk_open archive_lib.archive_read_disk_open
#define archive_read_disk_set_behavior archive_lib.archive_read_disk_set_behavior
#define archive_read_disk_set_symlink_physical archive_lib.archive_read_disk_set_symlink_physical
#define archive_read_free archive_lib.archive_read_free
#define archive_read_new archive_lib.archive_read_new
#define archive_read_next_header archive_lib.archive_read_next_header
#define archive_read_next_header2 archive_lib.archive_read_next_header2
#define archive_read_open archive_lib.archive_read_open
#define archive_read_support_filter_all archive_lib.archive_read_support_filter_all
#define archive_read_support_filter_gzip archive_lib.archive_read_support_filter_gzip
#define archive_read_support_filter_zstd archive_lib.archive_read_support_filter_zstd
#define archive_read_support_format_raw archive_lib.archive_read_support_format_raw
#define archive_read_support_format_tar archive_lib.archive_read_support_format_tar
#define archive_set_error archive_lib.archive_set_error
#define archive_write_close archive_lib.archive_write_close
#define archive_write_data archive_lib.archive_write_data
#define archive_write_free archive_lib.archive_write_free
#define archive_write_header archive_lib.archive_write_header
#define archive_write_new archive_lib.archive_write_new
#define archive_write_open archive_lib.archive_write_open
#define archive_write_open_fd archive_lib.archive_write_open_fd
#define archive_write_set_bytes_in_last_block archive_lib.archive_write_set_bytes_in_last_block
#define archive_write_set_format_option archive_lib.archive_write_set_format_option
#define archive_write_set_format_pax_restricted archive_lib.archive_write_set_format_pax_restricted
#endif

/* SPDX-License-Identifier: MIT */
/* Unit tests for image names: isofs_name_is_valid and image_check_name (core/image.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "image.h"
#include "isofs.h"
#include "tap.h"
#include "test-util.h"

static void expect(const char *name, bool valid, const char *label)
{
	isofs_error err = {0};
	int r;

	is_int(isofs_name_is_valid(name), valid, "%s is %s", label, valid ? "valid" : "invalid");
	r = image_check_name(name, &err);
	if (valid) {
		is_int(r, 0, "image_check_name accepts %s", label);
		is_int(err.code, 0, "image_check_name leaves err unset for %s", label);
	} else {
		is_int(r, -EINVAL, "image_check_name refuses %s with -EINVAL", label);
		is_int(err.code, EINVAL, "image_check_name sets err.code for %s", label);
		ok(strstr(err.message, "invalid name") != NULL, "the message for %s says why: %s", label, err.message);
		ok(tu_one_line(err.message), "the message for %s is one line", label);
		is_int(image_check_name(name, NULL), -EINVAL, "image_check_name with no error object, %s", label);
	}
}

int main(void)
{
	char n64[ISOFS_NAME_MAX + 1], n65[ISOFS_NAME_MAX + 2];
	isofs_error err = {0};

	is_int(ISOFS_NAME_MAX, 64, "ISOFS_NAME_MAX is 64");
	memset(n64, 'a', 64);
	n64[64] = '\0';
	memset(n65, 'a', 65);
	n65[65] = '\0';

	expect(n64, true, "a 64-character name");
	expect(n65, false, "a 65-character name");
	n64[0] = '9';
	n64[63] = '-';
	expect(n64, true, "64 characters starting with a digit, ending in '-'");

	expect("a", true, "'a'");
	expect("Z", true, "'Z'");
	expect("0", true, "'0'");
	expect("busybox", true, "'busybox'");
	expect("Debian-12.5_slim", true, "'Debian-12.5_slim'");
	expect("a.", true, "'a.' (trailing dot)");
	expect("a-", true, "'a-'");
	expect("a_", true, "'a_'");
	expect("a..b", true, "'a..b'");
	expect("1.2.3", true, "'1.2.3'");

	expect("", false, "the empty name");
	expect(NULL, false, "NULL");
	expect(".", false, "'.'");
	expect("..", false, "'..'");
	expect(".a", false, "'.a' (leading dot)");
	expect(".hidden", false, "'.hidden'");
	expect("-a", false, "'-a' (leading dash, an option)");
	expect("-", false, "'-'");
	expect("_a", false, "'_a' (leading underscore)");
	expect("a/b", false, "'a/b'");
	expect("/a", false, "'/a'");
	expect("a/", false, "'a/'");
	expect("a b", false, "'a b'");
	expect(" a", false, "' a'");
	expect("a ", false, "'a ' (trailing space)");
	expect("a\tb", false, "a name with a tab");
	expect("caf\xc3\xa9", false, "'café' (UTF-8)");
	expect("\xc3\xa9t\xc3\xa9", false, "'été' (UTF-8, non-ASCII first)");
	expect("a:b", false, "'a:b'");
	expect("a@b", false, "'a@b'");
	expect("a*", false, "'a*'");
	expect("a\\b", false, "'a\\b'");
	expect("a+b", false, "'a+b'");
	expect("a~", false, "'a~'");
	expect("tmp\x7f", false, "a name with DEL");
	expect("\xff", false, "a name with byte 0xff");

	/* The message names the offending name and the rule. */
	image_check_name("bad name", &err);
	ok(strstr(err.message, "'bad name'") != NULL, "the message quotes the name: %s", err.message);
	ok(strstr(err.message, "64") != NULL, "the message gives the length limit");

	/* A control character in a (user-supplied) name must not break the one-line message. */
	memset(&err, 0, sizeof(err));
	expect("bad\nname", false, "a name with a newline");
	memset(&err, 0, sizeof(err));
	is_int(image_check_name("x\n\x1b[2Jy", &err), -EINVAL, "a name with an escape sequence is refused");
	ok(!strchr(err.message, '\x1b'), "the message carries no raw escape character");

	return done_testing();
}

/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A small, bounded XML reader for the answers of AWS Query-protocol
 * services (STS): find one element by its path and return its text.
 *
 * It reads untrusted network input, so it is strict and bounded: at most
 * XML_MAX_DEPTH open elements; no DTD (a <!DOCTYPE> is refused, so no
 * entity can expand); only the five predefined entities and numeric
 * character references; CDATA sections and comments understood; a
 * mismatched close tag is an error.  Namespace prefixes are ignored
 * ("sts:Credentials" matches "Credentials").  Linear in the input.
 */
#include <stddef.h>

#define XML_MAX_DEPTH 32

/*
 * The text of the first element whose path from the root is path (a
 * NULL-terminated list of local names, root first), entities decoded.
 * Returns 0 with *ret (malloc'ed, NUL-terminated; "" for an empty element);
 * -ENOENT when there is no such element; -EINVAL when the document is
 * malformed (up to the point where the element ends), has a NUL byte
 * anywhere, or the element has child elements; -E2BIG past XML_MAX_DEPTH; -ENOMEM.
 */
int xml_find_text(const char *xml, size_t len, const char *const *path, char **ret);

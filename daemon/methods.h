/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The io.kmscancel methods: CancelKeyDeletion, DescribeKey, GetStatus.
 * Each validates its parameters, checks the key ID locally, and runs the
 * KMS calls asynchronously, completing the Varlink call when they finish.
 */
#include "varlink-service.h"

/* The method table handed to the Varlink server (userdata: struct daemon *),
 * terminated by an entry with name NULL. */
extern const struct method kmscancel_methods[];

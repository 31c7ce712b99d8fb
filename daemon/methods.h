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

struct daemon;

/*
 * The end of the drain (daemon_free(), before anything else goes): every
 * call still running is answered EndpointUnavailable ("kmscanceld is
 * shutting down …") while its connection exists, and every wait it was in
 * (routing, a credential cache, a KMS call, a settle or follower timer) is
 * withdrawn, so that nothing left points at the objects freed next.
 * Returns how many calls were answered so.
 */
unsigned methods_shutdown(struct daemon *d);

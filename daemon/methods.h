/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The io.kmscancel methods: CancelKeyDeletion, DescribeKey, GetStatus,
 * ListPendingDeletions.  Each checks its parameters here, then runs as an
 * operation (operation.h), renders the status (status.h) or scans
 * (pending.h).
 */
#include "methods-context.h"
#include "varlink-service.h"

/* The method table handed to the Varlink server (userdata: struct
 * methods_context *), terminated by an entry with name NULL. */
extern const struct method kmscancel_methods[];

/* The end of the drain: see operation_shutdown_all(). */
unsigned methods_shutdown(struct methods_context *ctx);

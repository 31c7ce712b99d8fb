/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The one table of io.kmscancel error names, shared by the daemon (which
 * sends them) and libkmscancel (which decodes them).
 */
#include "kmscancel.h"

/* "io.kmscancel.NotFoundException" for KMSCANCEL_E_NOT_FOUND, …; NULL for
 * codes that have no Varlink error (OK and the library-local ones). */
const char *kmscancel_error_to_varlink(kmscancel_error e);

/* The inverse.  Unknown names (including org.varlink.service.* errors)
 * return KMSCANCEL_E_PROTOCOL. */
kmscancel_error kmscancel_error_from_varlink(const char *name);

/* Short name without the interface ("NotFoundException"), as printed by the
 * CLI and used in --json output; "OK" for KMSCANCEL_OK, and a fixed local name
 * ("DaemonUnavailable", "ProtocolError", …) for library-local codes. */
const char *kmscancel_error_short_name(kmscancel_error e);

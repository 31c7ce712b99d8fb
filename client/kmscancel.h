/* SPDX-License-Identifier: MIT */
#ifndef KMSCANCEL_H
#define KMSCANCEL_H

/*
 * libkmscancel — client library for kmscanceld.
 *
 * (The library author completes this header: handle, options, result,
 * blocking call, room for the async API.  The error enum below is shared
 * with the daemon and must never be renumbered: append only.)
 */

#ifdef __cplusplus
extern "C" {
#endif

/* Every outcome of a call.  Values 1..13 map 1:1 to the io.kmscancel Varlink
 * errors; the rest are local to the library. */
typedef enum kmscancel_error {
	KMSCANCEL_OK = 0,
	KMSCANCEL_E_NOT_FOUND = 1,               /* io.kmscancel.NotFoundException */
	KMSCANCEL_E_INVALID_ARN = 2,             /* io.kmscancel.InvalidArnException */
	KMSCANCEL_E_INVALID_STATE = 3,           /* io.kmscancel.KMSInvalidStateException */
	KMSCANCEL_E_DEPENDENCY_TIMEOUT = 4,      /* io.kmscancel.DependencyTimeoutException */
	KMSCANCEL_E_KMS_INTERNAL = 5,            /* io.kmscancel.KMSInternalException */
	KMSCANCEL_E_ACCESS_DENIED = 6,           /* io.kmscancel.AccessDeniedException */
	KMSCANCEL_E_THROTTLING = 7,              /* io.kmscancel.ThrottlingException */
	KMSCANCEL_E_KMS = 8,                     /* io.kmscancel.KMSException (other AWS error) */
	KMSCANCEL_E_PERMISSION_DENIED = 9,       /* io.kmscancel.PermissionDenied (local policy) */
	KMSCANCEL_E_INVALID_KEY_ID = 10,         /* io.kmscancel.InvalidKeyId */
	KMSCANCEL_E_CREDENTIALS_UNAVAILABLE = 11,/* io.kmscancel.CredentialsUnavailable */
	KMSCANCEL_E_ENDPOINT_UNAVAILABLE = 12,   /* io.kmscancel.EndpointUnavailable */
	KMSCANCEL_E_TIMEOUT = 13,                /* io.kmscancel.Timeout */
	KMSCANCEL_E_CONNECT = 64,                /* the daemon cannot be reached */
	KMSCANCEL_E_PROTOCOL = 65,               /* malformed or unexpected reply, or a Varlink protocol error */
	KMSCANCEL_E_INVALID_ARGUMENT = 66,       /* bad argument to a library function */
	KMSCANCEL_E_NO_MEMORY = 67,
	KMSCANCEL_E_CANCELED = 68,               /* the caller cancelled the call */
	KMSCANCEL_E_DISCONNECTED = 69,           /* the daemon closed the connection before replying */
} kmscancel_error;

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: MIT */
#include "error-names.h"

#include <stddef.h>
#include <string.h>

#define IFACE "io.kmscancel."

/* The one table: code, Varlink error name (NULL for library-local codes) and
 * the short name the CLI prints.  Varlink names are IFACE + short name. */
static const struct {
	kmscancel_error code;
	const char *varlink;
	const char *short_name;
} table[] = {
    {KMSCANCEL_OK, NULL, "OK"},
    {KMSCANCEL_E_NOT_FOUND, IFACE "NotFoundException", "NotFoundException"},
    {KMSCANCEL_E_INVALID_ARN, IFACE "InvalidArnException", "InvalidArnException"},
    {KMSCANCEL_E_INVALID_STATE, IFACE "KMSInvalidStateException", "KMSInvalidStateException"},
    {KMSCANCEL_E_DEPENDENCY_TIMEOUT, IFACE "DependencyTimeoutException", "DependencyTimeoutException"},
    {KMSCANCEL_E_KMS_INTERNAL, IFACE "KMSInternalException", "KMSInternalException"},
    {KMSCANCEL_E_ACCESS_DENIED, IFACE "AccessDeniedException", "AccessDeniedException"},
    {KMSCANCEL_E_THROTTLING, IFACE "ThrottlingException", "ThrottlingException"},
    {KMSCANCEL_E_KMS, IFACE "KMSException", "KMSException"},
    {KMSCANCEL_E_PERMISSION_DENIED, IFACE "PermissionDenied", "PermissionDenied"},
    {KMSCANCEL_E_INVALID_KEY_ID, IFACE "InvalidKeyId", "InvalidKeyId"},
    {KMSCANCEL_E_CREDENTIALS_UNAVAILABLE, IFACE "CredentialsUnavailable", "CredentialsUnavailable"},
    {KMSCANCEL_E_ENDPOINT_UNAVAILABLE, IFACE "EndpointUnavailable", "EndpointUnavailable"},
    {KMSCANCEL_E_TIMEOUT, IFACE "Timeout", "Timeout"},
    {KMSCANCEL_E_INTERNAL, IFACE "InternalError", "InternalError"},
    {KMSCANCEL_E_CONNECT, NULL, "DaemonUnavailable"},
    {KMSCANCEL_E_PROTOCOL, NULL, "ProtocolError"},
    {KMSCANCEL_E_INVALID_ARGUMENT, NULL, "InvalidArgument"},
    {KMSCANCEL_E_NO_MEMORY, NULL, "OutOfMemory"},
    {KMSCANCEL_E_CANCELED, NULL, "Canceled"},
    {KMSCANCEL_E_DISCONNECTED, NULL, "Disconnected"},
};

#define TABLE_SIZE (sizeof(table) / sizeof(table[0]))

const char *kmscancel_error_to_varlink(kmscancel_error e)
{
	for (size_t i = 0; i < TABLE_SIZE; i++)
		if (table[i].code == e)
			return table[i].varlink;
	return NULL;
}

kmscancel_error kmscancel_error_from_varlink(const char *name)
{
	for (size_t i = 0; name && i < TABLE_SIZE; i++)
		if (table[i].varlink && strcmp(table[i].varlink, name) == 0)
			return table[i].code;
	return KMSCANCEL_E_PROTOCOL;
}

const char *kmscancel_error_short_name(kmscancel_error e)
{
	for (size_t i = 0; i < TABLE_SIZE; i++)
		if (table[i].code == e)
			return table[i].short_name;
	return "UnknownError";
}

/* SPDX-License-Identifier: MIT */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "varlink-service.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "log.h"
#include "varlink.h"

#ifndef PACKAGE_VERSION
#error "PACKAGE_VERSION must come from config.h (or -DPACKAGE_VERSION for ad-hoc builds)"
#endif
#ifndef PACKAGE_URL
#define PACKAGE_URL ""
#endif

#define SERVICE_INTERFACE "org.varlink.service"

/* org.varlink.service as systemd serves it: the varlink.org text plus
 * PermissionDenied and ExpectedMore. */
static const char service_description[] = "# The Varlink Service Interface is provided by every varlink service. It\n"
					  "# describes the service and the interfaces it implements.\n"
					  "interface org.varlink.service\n"
					  "\n"
					  "# Get a list of all the interfaces a service provides and information\n"
					  "# about the implementation.\n"
					  "method GetInfo() -> (\n"
					  "  vendor: string,\n"
					  "  product: string,\n"
					  "  version: string,\n"
					  "  url: string,\n"
					  "  interfaces: []string\n"
					  ")\n"
					  "\n"
					  "# Get the description of an interface that is implemented by this service.\n"
					  "method GetInterfaceDescription(interface: string) -> (description: string)\n"
					  "\n"
					  "# The requested interface was not found.\n"
					  "error InterfaceNotFound (interface: string)\n"
					  "\n"
					  "# The requested method was not found\n"
					  "error MethodNotFound (method: string)\n"
					  "\n"
					  "# The interface defines the requested method, but the service does not\n"
					  "# implement it.\n"
					  "error MethodNotImplemented (method: string)\n"
					  "\n"
					  "# One of the passed parameters is invalid.\n"
					  "error InvalidParameter (parameter: string)\n"
					  "\n"
					  "# Client is denied access\n"
					  "error PermissionDenied ()\n"
					  "\n"
					  "# Method is expected to be called with 'more' set to true, but wasn't\n"
					  "error ExpectedMore ()\n";

static const struct {
	const char *name;
	const char *description;
} interfaces[] = {
    {SERVICE_INTERFACE, service_description},
    {"io.kmscancel", kmscancel_interface_description},
};

const char *varlink_service_interface_description(const char *interface)
{
	for (size_t i = 0; interface && i < sizeof(interfaces) / sizeof(interfaces[0]); i++)
		if (strcmp(interfaces[i].name, interface) == 0)
			return interfaces[i].description;
	return NULL;
}

/* --- replies -------------------------------------------------------------------------- */

/* True unless the reply would go nowhere (oneway, or the client left). */
static bool wants_reply(struct call *c)
{
	return !call_is_oneway(c) && !call_is_abandoned(c);
}

/* Hands msg (ours to give; NULL when no reply goes out or formatting failed
 * with r) to the connection. */
static void emit_formatted(struct call *c, enum call_emit kind, const char *error, int r, char *msg, size_t len)
{
	if (r < 0)
		log_error("Cannot format the %s reply to %s: %s", error ? error : "success", call_method(c),
			  strerror(-r));
	call_emit(c, kind, msg, len);
}

/* Format (unless nobody will read it) and hand over one reply; consumes
 * parameters.  error NULL means a success reply. */
static void emit(struct call *c, enum call_emit kind, const char *error, struct json_object *parameters)
{
	char *msg = NULL;
	size_t len = 0;
	int r = 0;

	if (wants_reply(c)) {
		if (error)
			r = varlink_format_error(error, parameters, &msg, &len);
		else
			r = varlink_format_reply(parameters, kind == CALL_EMIT_CONTINUES, &msg, &len);
	}
	json_object_put(parameters);
	emit_formatted(c, kind, error, r, msg, len);
}

void call_reply(struct call *c, struct json_object *parameters)
{
	assert(c);
	emit(c, CALL_EMIT_REPLY, NULL, parameters);
}

void call_reply_written(struct call *c, const struct json_writer *parameters)
{
	char *msg = NULL;
	size_t len = 0;
	int r = 0;

	assert(c && parameters);
	if (wants_reply(c))
		r = varlink_format_reply_written(parameters, false, &msg, &len);
	emit_formatted(c, CALL_EMIT_REPLY, NULL, r, msg, len);
}

void call_reply_error(struct call *c, const char *error, struct json_object *parameters)
{
	assert(c && error);
	emit(c, CALL_EMIT_ERROR, error, parameters);
}

void call_reply_more(struct call *c, struct json_object *parameters)
{
	assert(c);
	if (!call_wants_more(c)) {
		/* A handler bug; a "continues" reply would break the client. */
		log_error("%s: streamed reply to a call without \"more\"; dropped", call_method(c));
		json_object_put(parameters);
		return;
	}
	emit(c, CALL_EMIT_CONTINUES, NULL, parameters);
}

/* Reply error { key: value }. */
static void reply_error_string(struct call *c, const char *error, const char *key, const char *value)
{
	struct json_object *p = json_object_new_object();

	if (p && json_object_object_add(p, key, json_object_new_string(value)) < 0) {
		json_object_put(p);
		p = NULL;
	}
	/* Without memory the reply is {} — still a correctly paired error. */
	call_reply_error(c, error, p);
}

void call_reply_invalid_parameter(struct call *c, const char *parameter)
{
	assert(c);
	reply_error_string(c, VARLINK_ERROR_INVALID_PARAMETER, "parameter", parameter ? parameter : "");
}

void call_reply_permission_denied(struct call *c)
{
	assert(c);
	call_reply_error(c, VARLINK_ERROR_PERMISSION_DENIED, NULL);
}

void call_reply_method_not_implemented(struct call *c)
{
	assert(c);
	reply_error_string(c, VARLINK_ERROR_METHOD_NOT_IMPLEMENTED, "method", call_method(c));
}

/* --- org.varlink.service ------------------------------------------------------------------ */

/* Does any method of the table belong to the interface iface[0..n)? */
static bool interface_has_methods(const struct method *methods, const char *iface, size_t n)
{
	for (; methods && methods->name; methods++)
		if (strncmp(methods->name, iface, n) == 0 && methods->name[n] == '.' &&
		    !strchr(methods->name + n + 1, '.'))
			return true;
	return false;
}

/* Add the interface of method to the array unless it is there already. */
static int add_interface(struct json_object *array, const char *method)
{
	const char *dot = strrchr(method, '.');
	size_t n = dot ? (size_t)(dot - method) : strlen(method);
	struct json_object *s;

	for (size_t i = 0; i < json_object_array_length(array); i++) {
		const char *have = json_object_get_string(json_object_array_get_idx(array, i));

		if (strlen(have) == n && strncmp(have, method, n) == 0)
			return 0;
	}
	s = json_object_new_string_len(method, (int)n);
	if (!s || json_object_array_add(array, s) < 0) {
		json_object_put(s);
		return -ENOMEM;
	}
	return 0;
}

/* Build the GetInfo reply; -ENOMEM. */
static int build_info(const struct method *methods, struct json_object **ret)
{
	struct json_object *p = json_object_new_object(), *list = json_object_new_array();
	int r = -ENOMEM;

	if (!p || !list || add_interface(list, SERVICE_INTERFACE ".GetInfo") < 0)
		goto out;
	for (const struct method *m = methods; m && m->name; m++)
		if (add_interface(list, m->name) < 0)
			goto out;
	if (json_object_object_add(p, "vendor", json_object_new_string("kmscancel")) < 0 ||
	    json_object_object_add(p, "product", json_object_new_string("kmscanceld")) < 0 ||
	    json_object_object_add(p, "version", json_object_new_string(PACKAGE_VERSION)) < 0 ||
	    json_object_object_add(p, "url", json_object_new_string(PACKAGE_URL)) < 0 ||
	    json_object_object_add(p, "interfaces", list) < 0)
		goto out;
	list = NULL;
	*ret = p;
	p = NULL;
	r = 0;
out:
	json_object_put(list);
	json_object_put(p);
	return r;
}

static void get_info(struct call *c, const struct method *methods)
{
	static const char *const none[] = {NULL};
	struct json_object *p;
	const char *unknown = NULL;

	if (varlink_check_fields(call_parameters(c), none, &unknown) < 0) {
		call_reply_invalid_parameter(c, unknown);
		return;
	}
	if (build_info(methods, &p) < 0) {
		call_emit(c, CALL_EMIT_REPLY, NULL, 0); /* closes: cannot answer */
		return;
	}
	call_reply(c, p);
}

static void get_interface_description(struct call *c, const struct method *methods)
{
	static const char *const fields[] = {"interface", NULL};
	const char *unknown = NULL, *name = NULL, *text;
	struct json_object *p;

	if (varlink_check_fields(call_parameters(c), fields, &unknown) < 0) {
		call_reply_invalid_parameter(c, unknown);
		return;
	}
	if (varlink_get_string(call_parameters(c), "interface", &name) < 0) {
		call_reply_invalid_parameter(c, "interface");
		return;
	}
	text = varlink_service_interface_description(name);
	/* Only describe what this server actually serves. */
	if (!text || (strcmp(name, SERVICE_INTERFACE) != 0 && !interface_has_methods(methods, name, strlen(name)))) {
		reply_error_string(c, VARLINK_ERROR_INTERFACE_NOT_FOUND, "interface", name);
		return;
	}
	p = json_object_new_object();
	if (p && json_object_object_add(p, "description", json_object_new_string(text)) < 0) {
		json_object_put(p);
		p = NULL;
	}
	if (!p) {
		call_emit(c, CALL_EMIT_REPLY, NULL, 0);
		return;
	}
	call_reply(c, p);
}

/* --- routing ------------------------------------------------------------------------------- */

void varlink_service_dispatch(struct call *c, const struct method *methods, void *userdata)
{
	const char *method, *member;
	size_t n;
	char iface[VARLINK_NAME_MAX + 1];

	assert(c);
	method = call_method(c);
	/* conn.c only dispatches validated names. */
	if (varlink_qualified_name_split(method, &n, &member) < 0) {
		reply_error_string(c, VARLINK_ERROR_METHOD_NOT_FOUND, "method", method);
		return;
	}
	if (n == strlen(SERVICE_INTERFACE) && strncmp(method, SERVICE_INTERFACE, n) == 0) {
		if (strcmp(member, "GetInfo") == 0)
			get_info(c, methods);
		else if (strcmp(member, "GetInterfaceDescription") == 0)
			get_interface_description(c, methods);
		else
			reply_error_string(c, VARLINK_ERROR_METHOD_NOT_FOUND, "method", method);
		return;
	}
	for (const struct method *m = methods; m && m->name; m++)
		if (strcmp(m->name, method) == 0) {
			m->handler(c, userdata);
			return;
		}
	if (interface_has_methods(methods, method, n)) {
		reply_error_string(c, VARLINK_ERROR_METHOD_NOT_FOUND, "method", method);
		return;
	}
	memcpy(iface, method, n);
	iface[n] = '\0';
	reply_error_string(c, VARLINK_ERROR_INTERFACE_NOT_FOUND, "interface", iface);
}

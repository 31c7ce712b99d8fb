/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The KMS client's default transport (kms-transport.h): kept-alive HTTPS
 * pools (https-pool.h) sharing one TLS context, one DNS cache (with the
 * connect_to overrides) and the proxy from the environment.
 */
#include "kms-transport.h"

struct event_base;
struct evdns_base;
struct kms_client_options;

/* Reads o's ca_bundle, pool, connect_to and getenv.  base and dns are
 * borrowed and must outlive the transport.  Returns 0 and *ret (free it
 * with (*ret)->ops->free((*ret)->impl), after every pool made from it), or
 * a negative errno with *ret_error (malloc'ed, possibly NULL) saying why:
 * an unreadable CA bundle, an unusable proxy or connect_to. */
int kms_https_transport_new(struct event_base *base, struct evdns_base *dns, const struct kms_client_options *o,
			    struct kms_transport **ret, char **ret_error);

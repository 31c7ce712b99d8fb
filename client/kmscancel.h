/* SPDX-License-Identifier: MIT */
#ifndef KMSCANCEL_H
#define KMSCANCEL_H

/*
 * libkmscancel — client library for kmscanceld.
 *
 * kmscanceld holds AWS credentials and serves KMS CancelKeyDeletion (and
 * DescribeKey) to local callers over a Varlink Unix socket.  This library is
 * the C face of that socket:
 *
 *	kmscancel *h;
 *	kmscancel_result *r;
 *	kmscancel_cancel_options o = KMSCANCEL_CANCEL_OPTIONS_INIT;
 *
 *	o.enable_key = true;
 *	kmscancel_open(NULL, &h);
 *	if (kmscancel_cancel_key_deletion(h, "1234abcd-…", &o, &r) == KMSCANCEL_OK)
 *		printf("%s is now %s\n", kmscancel_result_key_id(r), kmscancel_result_key_state(r));
 *	else
 *		fprintf(stderr, "%s: %s\n", kmscancel_result_error_name(r), kmscancel_result_message(r));
 *	kmscancel_result_free(r);
 *	kmscancel_close(h);
 *
 * Conventions
 *  - Every fallible function returns a kmscancel_error; KMSCANCEL_OK is 0.
 *  - Ownership is stated on each function.  Strings returned by accessors are
 *    borrowed from the object they came from and live as long as it does.
 *  - Destructors accept NULL.
 *  - The library keeps no global state, never prints, exits or aborts, and
 *    never raises SIGPIPE.
 *
 * Thread safety: a handle (and the calls and results it produced) is used by
 * one thread at a time; different handles are fully independent and may be
 * used concurrently from different threads.  A result, once handed to the
 * caller, no longer refers to its handle and may move to any thread; so
 * may the keys and events of the streaming calls (kmscancel_pending_key,
 * kmscancel_guard_event) once handed to their callbacks.  Item callbacks
 * and completion callbacks of one handle run on the thread that drives it.
 *
 * ABI: symbols are versioned (LIBKMSCANCEL_0, then LIBKMSCANCEL_1, _2 and
 * _3 for what later versions added, each function saying since when).  Enum
 * values are never renumbered; structs the caller allocates start with their
 * own size so that they can grow without breaking old binaries.  The version macros (KMSCANCEL_VERSION_MAJOR …
 * KMSCANCEL_VERSION_NUMBER) come from kmscancel-version.h, included here.
 */

#include <stdbool.h>
#include <stddef.h>

#include "kmscancel-version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define KMSCANCEL_API __attribute__((visibility("default")))
#else
#define KMSCANCEL_API
#endif

/* Every outcome of a call.  Values 1..13 map 1:1 to the io.kmscancel Varlink
 * errors; the rest are local to the library. */
typedef enum kmscancel_error {
	KMSCANCEL_OK = 0,
	KMSCANCEL_E_NOT_FOUND = 1,                /* io.kmscancel.NotFoundException */
	KMSCANCEL_E_INVALID_ARN = 2,              /* io.kmscancel.InvalidArnException */
	KMSCANCEL_E_INVALID_STATE = 3,            /* io.kmscancel.KMSInvalidStateException */
	KMSCANCEL_E_DEPENDENCY_TIMEOUT = 4,       /* io.kmscancel.DependencyTimeoutException */
	KMSCANCEL_E_KMS_INTERNAL = 5,             /* io.kmscancel.KMSInternalException */
	KMSCANCEL_E_ACCESS_DENIED = 6,            /* io.kmscancel.AccessDeniedException */
	KMSCANCEL_E_THROTTLING = 7,               /* io.kmscancel.ThrottlingException */
	KMSCANCEL_E_KMS = 8,                      /* io.kmscancel.KMSException (other AWS error) */
	KMSCANCEL_E_PERMISSION_DENIED = 9,        /* io.kmscancel.PermissionDenied (local policy) */
	KMSCANCEL_E_INVALID_KEY_ID = 10,          /* io.kmscancel.InvalidKeyId */
	KMSCANCEL_E_CREDENTIALS_UNAVAILABLE = 11, /* io.kmscancel.CredentialsUnavailable */
	KMSCANCEL_E_ENDPOINT_UNAVAILABLE = 12,    /* io.kmscancel.EndpointUnavailable */
	KMSCANCEL_E_TIMEOUT = 13,                 /* io.kmscancel.Timeout */
	KMSCANCEL_E_INTERNAL = 14,                /* io.kmscancel.InternalError (the daemon ran out of memory) */
	KMSCANCEL_E_CONNECT = 64,                 /* the daemon cannot be reached */
	KMSCANCEL_E_PROTOCOL = 65,                /* malformed or unexpected reply, or a Varlink protocol error */
	KMSCANCEL_E_INVALID_ARGUMENT = 66,        /* bad argument to a library function */
	KMSCANCEL_E_NO_MEMORY = 67,
	KMSCANCEL_E_CANCELED = 68,     /* the caller cancelled the call */
	KMSCANCEL_E_DISCONNECTED = 69, /* the daemon closed the connection before replying */
} kmscancel_error;

/* Used when kmscancel_open() gets no path and $KMSCANCEL_SOCKET is unset. */
#define KMSCANCEL_SOCKET_ENV "KMSCANCEL_SOCKET"

/* A short English description of e ("the key does not exist", …).  Static
 * storage; never NULL, also for values this version does not know. */
KMSCANCEL_API const char *kmscancel_strerror(kmscancel_error e);

/* The version of the library the program runs with, "MAJOR.MINOR.PATCH":
 * the KMSCANCEL_VERSION_STRING the library was built with, which may be
 * newer than the one the program was compiled against.  Static storage;
 * never NULL. */
KMSCANCEL_API const char *kmscancel_version(void);

/* --- handle ------------------------------------------------------------------------------------------------ */

/* A connection to kmscanceld.  Opaque. */
typedef struct kmscancel kmscancel;

/*
 * Create a handle for the daemon at socket_path; NULL means $KMSCANCEL_SOCKET
 * (ignored in setuid programs), or, if that is unset or empty, the default
 * socket (/run/kmscanceld/io.kmscancel unless built otherwise).  A path
 * starting with '@' names a Linux abstract socket.
 *
 * Opening does not talk to the daemon: the connection is made by the first
 * call, whose result then carries KMSCANCEL_E_CONNECT and a message naming the
 * path and the reason if the daemon cannot be reached.  After the connection
 * failed or the daemon closed it, the next call connects again.
 *
 * Returns KMSCANCEL_OK and stores a new handle in *ret (owned by the caller,
 * release with kmscancel_close()); KMSCANCEL_E_INVALID_ARGUMENT if ret is NULL
 * or the path is empty; KMSCANCEL_E_NO_MEMORY.  *ret is written only on
 * success.
 */
KMSCANCEL_API kmscancel_error kmscancel_open(const char *socket_path, kmscancel **ret);

/*
 * Close the connection and free the handle.  Calls still pending complete
 * with KMSCANCEL_E_CANCELED: their callbacks run from inside kmscancel_close()
 * so that userdata can be released; they must not use the handle.  Accepts
 * NULL.
 */
KMSCANCEL_API void kmscancel_close(kmscancel *h);

/* The socket path this handle connects to.  Borrowed from h. */
KMSCANCEL_API const char *kmscancel_get_socket_path(const kmscancel *h);

/*
 * Default time limit in milliseconds for every call on h that does not set
 * its own (0, the initial value: no limit, the daemon's own default applies).
 * For CancelKeyDeletion and DescribeKey the limit is also sent to the daemon
 * as timeoutMs, so that it gives up on AWS in time and answers
 * io.kmscancel.Timeout; the library itself waits a little longer than the
 * limit (one second) for that answer before completing the call with
 * KMSCANCEL_E_TIMEOUT.  For GetStatus the limit is the library's alone.
 */
KMSCANCEL_API kmscancel_error kmscancel_set_timeout(kmscancel *h, unsigned timeout_ms);

/* --- results ----------------------------------------------------------------------------------------------- */

/* The outcome of one call: success with the reply's fields, or an error with
 * its name and message.  Opaque; free with kmscancel_result_free(). */
typedef struct kmscancel_result kmscancel_result;

KMSCANCEL_API void kmscancel_result_free(kmscancel_result *r);

/* The outcome; KMSCANCEL_OK on success. */
KMSCANCEL_API kmscancel_error kmscancel_result_error(const kmscancel_result *r);

/* The error's short name: the io.kmscancel error without its interface
 * ("NotFoundException"), the AWS error type for KMSException
 * ("KMSInvalidSignatureException"), the member of any other Varlink error the
 * daemon sent ("MethodNotFound"), or a fixed name for library-local errors
 * ("DaemonUnavailable", …).  NULL on success. */
KMSCANCEL_API const char *kmscancel_result_error_name(const kmscancel_result *r);

/* A human-readable message for the error (AWS's message, the daemon's, or
 * the library's, e.g. "cannot reach kmscanceld at /run/kmscanceld/io.kmscancel:
 * No such file or directory — is kmscanceld.socket running?").  NULL on success. */
KMSCANCEL_API const char *kmscancel_result_message(const kmscancel_result *r);

/* The key ARN the daemon answered with (CancelKeyDeletion, DescribeKey);
 * NULL on failure. */
KMSCANCEL_API const char *kmscancel_result_key_id(const kmscancel_result *r);

/* The key state: "Disabled" (or "Enabled" with enable_key) after a cancel,
 * the current state after DescribeKey and after a dry-run cancel; NULL if
 * unknown. */
KMSCANCEL_API const char *kmscancel_result_key_state(const kmscancel_result *r);

/* The AWS request ID of the (last) KMS request, on success and on AWS
 * errors; NULL when AWS was not reached. */
KMSCANCEL_API const char *kmscancel_result_request_id(const kmscancel_result *r);

/* How many HTTP attempts the daemon needed (retries included); 0 if not
 * reported. */
KMSCANCEL_API unsigned kmscancel_result_attempts(const kmscancel_result *r);

/* DescribeKey: the key ARN (NULL if not reported). */
KMSCANCEL_API const char *kmscancel_result_arn(const kmscancel_result *r);

/* DescribeKey: 1 if the key is enabled, 0 if not, -1 if not reported. */
KMSCANCEL_API int kmscancel_result_enabled(const kmscancel_result *r);

/* DescribeKey: 1 for a multi-Region key, 0 for a single-Region one, -1 if not
 * reported. */
KMSCANCEL_API int kmscancel_result_multi_region(const kmscancel_result *r);

/* DescribeKey and dry-run cancel: when the key will be deleted, ISO 8601 UTC
 * ("2024-05-01T00:00:00Z"); NULL if no deletion is scheduled. */
KMSCANCEL_API const char *kmscancel_result_deletion_date(const kmscancel_result *r);

/* The reply's parameters as one line of JSON, for fields this version has no
 * accessor for (and for GetStatus, whose fields are informational and grow).
 * Also set for errors the daemon sent ({"message": …, "requestId": …}); NULL
 * for library-local errors. */
KMSCANCEL_API const char *kmscancel_result_json(const kmscancel_result *r);

/* --- blocking calls ---------------------------------------------------------------------------------------- */

/* Options of CancelKeyDeletion.  Initialise with KMSCANCEL_CANCEL_OPTIONS_INIT
 * (which records the struct's size, so that fields can be appended in later
 * versions without breaking binaries built against this one), then set what
 * you need. */
typedef struct kmscancel_cancel_options {
	size_t size;         /* sizeof(kmscancel_cancel_options); set by the INIT macro */
	bool enable_key;     /* also EnableKey after the cancel (enableKey: true) */
	unsigned timeout_ms; /* time limit for this call; 0: the handle's (kmscancel_set_timeout) */
	bool dry_run;        /* change nothing: check as a cancel would (dryRun: true), see below */
	/* Since LIBKMSCANCEL_2 (an older library ignores what is past its own
	 * struct's size): */
	const char *account; /* a bare key ID's account (12 digits), or NULL: see below */
	const char *region;  /* a bare key ID's region ("eu-west-1"), or NULL: see below */
} kmscancel_cancel_options;

/* clang-format off */
#define KMSCANCEL_CANCEL_OPTIONS_INIT {.size = sizeof(kmscancel_cancel_options)}
/* clang-format on */

/*
 * Cancel the scheduled deletion of key_id (a key ID, multi-Region key ID or
 * key ARN) and wait for the answer.  opts may be NULL (defaults).
 *
 * With opts->dry_run the daemon changes nothing: it checks the key ID, the
 * key's account and its local policy exactly as for a real cancel (with
 * enable_key, the permission to enable too), then reads the key with
 * DescribeKey.  The outcome is what the cancel would meet: KMSCANCEL_OK with
 * the key's current state and deletion date if it is pending deletion,
 * KMSCANCEL_E_INVALID_STATE if it is not, KMSCANCEL_E_PERMISSION_DENIED,
 * KMSCANCEL_E_NOT_FOUND … otherwise.  AWS's own permission for
 * kms:CancelKeyDeletion cannot be checked without trying.
 *
 * opts->account and opts->region say where a bare key ID is: its account
 * (whose [Account N] credentials and Region= serve it) and its region
 * (whose endpoint gets the request, and which the daemon's policy and
 * audit see); NULL: the daemon's defaults.  With a key ARN each must be
 * NULL or the ARN's own, else KMSCANCEL_E_INVALID_KEY_ID and nothing is
 * sent.  A malformed one is KMSCANCEL_E_INVALID_ARGUMENT.
 *
 * Returns the outcome, and — whatever it is — stores a result in *ret (owned
 * by the caller, free with kmscancel_result_free()) that carries the reply's
 * fields or the error's name and message.  Exceptions: on
 * KMSCANCEL_E_INVALID_ARGUMENT (h or key_id NULL, opts not initialised) and
 * on KMSCANCEL_E_NO_MEMORY before the call was queued, *ret is set to NULL.
 * ret may be NULL if only the outcome matters.
 *
 * Callbacks of asynchronous calls on the same handle may run while this
 * function waits.
 */
KMSCANCEL_API kmscancel_error kmscancel_cancel_key_deletion(kmscancel *h, const char *key_id,
							    const kmscancel_cancel_options *opts,
							    kmscancel_result **ret);

/* DescribeKey(key_id): keyId/arn, keyState, enabled, deletionDate,
 * multiRegion … via the result accessors.  Changes nothing.  Time limit: the
 * handle's (also sent to the daemon as timeoutMs).  Ownership and return as kmscancel_cancel_key_deletion(). */
KMSCANCEL_API kmscancel_error kmscancel_describe_key(kmscancel *h, const char *key_id, kmscancel_result **ret);

/* Options of DescribeKey; as kmscancel_cancel_options, initialise with
 * KMSCANCEL_DESCRIBE_OPTIONS_INIT.  With a key ARN, account and region (when
 * set) must name the ARN's own, else KMSCANCEL_E_INVALID_KEY_ID. */
typedef struct kmscancel_describe_options {
	size_t size;         /* sizeof(kmscancel_describe_options); set by the INIT macro */
	unsigned timeout_ms; /* time limit for this call; 0: the handle's (kmscancel_set_timeout) */
	const char *account; /* a bare key ID's account (12 digits), or NULL */
	const char *region;  /* a bare key ID's region, or NULL: the daemon's */
} kmscancel_describe_options;

/* clang-format off */
#define KMSCANCEL_DESCRIBE_OPTIONS_INIT {.size = sizeof(kmscancel_describe_options)}
/* clang-format on */

/* kmscancel_describe_key() with options (opts may be NULL: defaults).  Since
 * LIBKMSCANCEL_2.  Ownership and return as kmscancel_cancel_key_deletion(). */
KMSCANCEL_API kmscancel_error kmscancel_describe_key_with_options(kmscancel *h, const char *key_id,
								  const kmscancel_describe_options *opts,
								  kmscancel_result **ret);

/* GetStatus(): the daemon's version, uptime, credential source and expiry,
 * counters — read them with kmscancel_result_json(), whose fields are
 * informational and may grow.  Ownership and return as
 * kmscancel_cancel_key_deletion(). */
KMSCANCEL_API kmscancel_error kmscancel_get_status(kmscancel *h, kmscancel_result **ret);

/* --- asynchronous calls ------------------------------------------------------------------------------------ */

/*
 * Any number of calls may be in flight on one handle: they are pipelined on
 * its connection and complete in the order they were made.  To drive them
 * from an event loop, watch kmscancel_get_fd() for kmscancel_get_events(),
 * wake up after kmscancel_get_timeout() milliseconds, and then call
 * kmscancel_process(), which runs the callbacks of completed calls.  Re-read
 * the fd, events and timeout after each kmscancel_process() and after making
 * a call: they change.  Callbacks run only from kmscancel_process(), from the
 * blocking calls (which run it) and from kmscancel_close() — never from the
 * function that made or cancelled the call.
 */

/* One asynchronous call.  Opaque; owned by its handle. */
typedef struct kmscancel_call kmscancel_call;

/*
 * Runs exactly once per call, with the outcome.  result is owned by the
 * callback: free it with kmscancel_result_free() (or keep it).  The call
 * object is valid until the callback returns.  The callback may make new
 * calls and cancel others on h.
 */
typedef void (*kmscancel_callback)(kmscancel *h, kmscancel_call *call, kmscancel_result *result, void *userdata);

/*
 * Queue CancelKeyDeletion(key_id) and return at once.  callback (may be NULL:
 * the result is dropped) is run with userdata when the call completes.  If
 * ret_call is not NULL it receives the call (borrowed, valid until the
 * callback returns), e.g. for kmscancel_call_cancel().
 *
 * Returns KMSCANCEL_OK once the call is queued — then every outcome,
 * including KMSCANCEL_E_CONNECT, reaches the callback; or
 * KMSCANCEL_E_INVALID_ARGUMENT / KMSCANCEL_E_NO_MEMORY, and then the call was
 * not made and the callback will not run.
 */
KMSCANCEL_API kmscancel_error kmscancel_cancel_key_deletion_async(kmscancel *h, const char *key_id,
								  const kmscancel_cancel_options *opts,
								  kmscancel_callback callback, void *userdata,
								  kmscancel_call **ret_call);

/* DescribeKey(key_id), asynchronously; as above. */
KMSCANCEL_API kmscancel_error kmscancel_describe_key_async(kmscancel *h, const char *key_id,
							   kmscancel_callback callback, void *userdata,
							   kmscancel_call **ret_call);

/* DescribeKey(key_id) with options, asynchronously; as above.  Since
 * LIBKMSCANCEL_2. */
KMSCANCEL_API kmscancel_error kmscancel_describe_key_with_options_async(kmscancel *h, const char *key_id,
									const kmscancel_describe_options *opts,
									kmscancel_callback callback, void *userdata,
									kmscancel_call **ret_call);

/*
 * Stop waiting for call: its callback runs (from the next
 * kmscancel_process()) with KMSCANCEL_E_CANCELED.  If the request has not
 * been sent yet it never will be; once sent, Varlink cannot recall it, so the
 * daemon may still carry it out — its reply is then discarded.  A call that
 * has already completed keeps its real outcome.  Must not be used after the
 * call's callback has returned.
 */
KMSCANCEL_API void kmscancel_call_cancel(kmscancel_call *call);

/* The connection's file descriptor, or -1 when not connected (before the
 * first call, or after the connection failed).  Owned by h: don't close it,
 * don't read or write it. */
KMSCANCEL_API int kmscancel_get_fd(const kmscancel *h);

/* The poll(2) events to wait for on the fd: POLLIN, plus POLLOUT while
 * requests wait to be written.  0 when not connected. */
KMSCANCEL_API int kmscancel_get_events(const kmscancel *h);

/* Milliseconds until kmscancel_process() must run even without fd activity
 * (a call's time limit, or 0 when completed calls wait for their callbacks);
 * -1 for no limit.  Suitable as poll(2)'s timeout. */
KMSCANCEL_API int kmscancel_get_timeout(const kmscancel *h);

/* Calls made on h whose callback has not run yet. */
KMSCANCEL_API size_t kmscancel_get_pending(const kmscancel *h);

/*
 * Do whatever I/O is possible without blocking, expire calls past their
 * time limit, and run the callbacks of completed calls in the order they
 * completed (replies complete in call order; a cancel or a time limit can
 * complete a call before the ones made earlier).
 * Returns KMSCANCEL_OK, or the error that broke the connection during this
 * run (KMSCANCEL_E_DISCONNECTED, KMSCANCEL_E_PROTOCOL, …) — the calls that
 * were pending on it have been completed with that error; the next call
 * reconnects.
 */
KMSCANCEL_API kmscancel_error kmscancel_process(kmscancel *h);

/* --- streaming calls (since LIBKMSCANCEL_3) --------------------------------------------------------------- */

/*
 * ListPendingDeletions and WatchGuard answer with a stream of replies (Varlink
 * "more"): an item callback runs once per item (a key, an event) as it
 * arrives, then the call's kmscancel_callback runs once with the outcome, as
 * for any other call.  Both run from kmscancel_process() only, in the order
 * the replies arrived, and never after the call's kmscancel_callback.
 *
 * A stream holds its connection until it ends: calls made after it on the
 * same handle wait until then.  A watch never ends by itself, so give it a
 * handle of its own.  kmscancel_call_cancel() on a stream (or its time limit)
 * completes it with KMSCANCEL_E_CANCELED (KMSCANCEL_E_TIMEOUT), drops the
 * items not yet handed out, and hangs up the connection as soon as the calls
 * made before the stream have been answered, which is what tells the daemon
 * to stop; calls made after the stream go out again on a new connection.
 */

/* One key pending deletion, as ListPendingDeletions reports it.  Opaque;
 * free with kmscancel_pending_key_free().  Accessor strings are borrowed
 * from the key. */
typedef struct kmscancel_pending_key kmscancel_pending_key;

KMSCANCEL_API void kmscancel_pending_key_free(kmscancel_pending_key *k);
/* The key ARN.  Never NULL for a key the library handed out. */
KMSCANCEL_API const char *kmscancel_pending_key_id(const kmscancel_pending_key *k);
/* "PendingDeletion" or "PendingReplicaDeletion".  Never NULL. */
KMSCANCEL_API const char *kmscancel_pending_key_state(const kmscancel_pending_key *k);
/* When KMS deletes the key, RFC 3339 UTC ("2024-05-01T00:00:00Z"); NULL if
 * KMS gave no date (a multi-Region primary waiting for its replicas). */
KMSCANCEL_API const char *kmscancel_pending_key_deletion_date(const kmscancel_pending_key *k);
/* The waiting period in days a multi-Region primary in
 * PendingReplicaDeletion will get once its replicas are gone; -1 if not
 * reported. */
KMSCANCEL_API int kmscancel_pending_key_window_days(const kmscancel_pending_key *k);
/* The key's account (12 digits) and region.  Never NULL. */
KMSCANCEL_API const char *kmscancel_pending_key_account(const kmscancel_pending_key *k);
KMSCANCEL_API const char *kmscancel_pending_key_region(const kmscancel_pending_key *k);
/* The key's description; NULL if none was reported. */
KMSCANCEL_API const char *kmscancel_pending_key_description(const kmscancel_pending_key *k);
/* Its aliases ("alias/NAME"): how many, and the i-th (NULL past the end). */
KMSCANCEL_API size_t kmscancel_pending_key_alias_count(const kmscancel_pending_key *k);
KMSCANCEL_API const char *kmscancel_pending_key_alias(const kmscancel_pending_key *k, size_t i);
/* The key's fields as one line of JSON, the daemon's names (fields of a
 * newer daemon included). */
KMSCANCEL_API const char *kmscancel_pending_key_json(const kmscancel_pending_key *k);

/*
 * Runs once per key, as it arrives.  key belongs to the callback: free it
 * with kmscancel_pending_key_free() (or keep it; it does not refer to h).
 * The callback may make new calls and cancel calls on h, this one included.
 */
typedef void (*kmscancel_pending_key_callback)(kmscancel *h, kmscancel_call *call, kmscancel_pending_key *key,
					       void *userdata);

/* Options of ListPendingDeletions; initialise with
 * KMSCANCEL_PENDING_OPTIONS_INIT, as kmscancel_cancel_options. */
typedef struct kmscancel_pending_options {
	size_t size;         /* sizeof(kmscancel_pending_options); set by the INIT macro */
	unsigned timeout_ms; /* time limit for the whole listing; 0: the handle's (kmscancel_set_timeout) */
	const char *account; /* only this account (12 digits), or NULL: every account the daemon serves */
	const char *region;  /* only this region, or NULL: the regions configured for each account */
} kmscancel_pending_options;

/* clang-format off */
#define KMSCANCEL_PENDING_OPTIONS_INIT {.size = sizeof(kmscancel_pending_options)}
/* clang-format on */

/*
 * List the keys pending deletion that the daemon's policy lets the caller
 * describe (ListPendingDeletions).  Changes nothing.  key_callback (may be
 * NULL) runs once per key, in the order the daemon finds them (no order is
 * promised); then callback runs once with the outcome: KMSCANCEL_OK when the
 * scan ended, with one entry per account and region scanned
 * (kmscancel_result_scan_count() …) — a region that failed is an entry with
 * an error, and the other regions' keys are still listed; or the error that
 * ended the call (KMSCANCEL_E_PERMISSION_DENIED when the caller may describe
 * no key at all, KMSCANCEL_E_CONNECT, KMSCANCEL_E_CANCELED …).  A malformed
 * account or region is KMSCANCEL_E_INVALID_ARGUMENT, and nothing is sent.
 * The time limit (opts->timeout_ms, else the handle's) is sent to the daemon
 * as timeoutMs and covers the whole listing.  Returns and ret_call as
 * kmscancel_cancel_key_deletion_async().  Since LIBKMSCANCEL_3.
 */
KMSCANCEL_API kmscancel_error kmscancel_list_pending_deletions_async(kmscancel *h,
								     const kmscancel_pending_options *opts,
								     kmscancel_pending_key_callback key_callback,
								     kmscancel_callback callback, void *userdata,
								     kmscancel_call **ret_call);

/* The same, waiting for the end: key_callback runs from inside this
 * function as keys arrive.  Ownership and return of *ret as
 * kmscancel_cancel_key_deletion().  Since LIBKMSCANCEL_3. */
KMSCANCEL_API kmscancel_error kmscancel_list_pending_deletions(kmscancel *h, const kmscancel_pending_options *opts,
							       kmscancel_pending_key_callback key_callback,
							       void *userdata, kmscancel_result **ret);

/* The final result of ListPendingDeletions: how many account+region scans it
 * reports (0 for any other result), and for the i-th its account, region,
 * and — where that scan failed — the error's name ("AccessDeniedException")
 * and message (NULL when it succeeded, and past the end). */
KMSCANCEL_API size_t kmscancel_result_scan_count(const kmscancel_result *r);
KMSCANCEL_API const char *kmscancel_result_scan_account(const kmscancel_result *r, size_t i);
KMSCANCEL_API const char *kmscancel_result_scan_region(const kmscancel_result *r, size_t i);
KMSCANCEL_API const char *kmscancel_result_scan_error(const kmscancel_result *r, size_t i);
KMSCANCEL_API const char *kmscancel_result_scan_message(const kmscancel_result *r, size_t i);

/* One event of the daemon's guard.  Opaque; free with
 * kmscancel_guard_event_free().  Accessor strings are borrowed from it. */
typedef struct kmscancel_guard_event kmscancel_guard_event;

KMSCANCEL_API void kmscancel_guard_event_free(kmscancel_guard_event *e);
/* When it happened, RFC 3339 UTC.  Never NULL. */
KMSCANCEL_API const char *kmscancel_guard_event_time(const kmscancel_guard_event *e);
/* What happened: "rescued", "enabled", "rescueFailed", "unreadable",
 * "readable" (or what a newer daemon adds).  Never NULL. */
KMSCANCEL_API const char *kmscancel_guard_event_name(const kmscancel_guard_event *e);
/* The guarded key as written in the daemon's [Guard] Keys=.  Never NULL. */
KMSCANCEL_API const char *kmscancel_guard_event_key(const kmscancel_guard_event *e);
/* Its key ARN, account and region once known; NULL otherwise. */
KMSCANCEL_API const char *kmscancel_guard_event_key_id(const kmscancel_guard_event *e);
KMSCANCEL_API const char *kmscancel_guard_event_account(const kmscancel_guard_event *e);
KMSCANCEL_API const char *kmscancel_guard_event_region(const kmscancel_guard_event *e);
/* rescued: the deletion date the key had; NULL otherwise. */
KMSCANCEL_API const char *kmscancel_guard_event_deletion_date(const kmscancel_guard_event *e);
/* The key's state after the event; NULL if not reported. */
KMSCANCEL_API const char *kmscancel_guard_event_key_state(const kmscancel_guard_event *e);
/* The AWS request IDs of the event's KMS requests: how many, and the i-th
 * (NULL past the end). */
KMSCANCEL_API size_t kmscancel_guard_event_request_id_count(const kmscancel_guard_event *e);
KMSCANCEL_API const char *kmscancel_guard_event_request_id(const kmscancel_guard_event *e, size_t i);
/* rescueFailed, unreadable: the error's name and message; NULL otherwise. */
KMSCANCEL_API const char *kmscancel_guard_event_error(const kmscancel_guard_event *e);
KMSCANCEL_API const char *kmscancel_guard_event_message(const kmscancel_guard_event *e);
/* The event as one line of JSON, the daemon's field names. */
KMSCANCEL_API const char *kmscancel_guard_event_json(const kmscancel_guard_event *e);

/*
 * Runs once with event NULL when the daemon has put the watch in place
 * (every event from then on is delivered), then once per event.  event
 * belongs to the callback: free it with kmscancel_guard_event_free() (or
 * keep it).  The callback may make calls and cancel calls on h, this one
 * included.
 */
typedef void (*kmscancel_guard_event_callback)(kmscancel *h, kmscancel_call *call, kmscancel_guard_event *event,
					       void *userdata);

/* Options of WatchGuard; initialise with KMSCANCEL_WATCH_OPTIONS_INIT. */
typedef struct kmscancel_watch_options {
	size_t size;         /* sizeof(kmscancel_watch_options); set by the INIT macro */
	unsigned timeout_ms; /* stop watching after this long (KMSCANCEL_E_TIMEOUT); 0: never (the
				handle's time limit does not apply to a watch) */
} kmscancel_watch_options;

/* clang-format off */
#define KMSCANCEL_WATCH_OPTIONS_INIT {.size = sizeof(kmscancel_watch_options)}
/* clang-format on */

/*
 * Watch the daemon's guard (WatchGuard): event_callback runs for each event
 * of a key the caller may describe, until the caller cancels the call
 * (kmscancel_call_cancel(): the outcome is KMSCANCEL_E_CANCELED) or the
 * daemon ends the watch (it stops: KMSCANCEL_OK) or the connection breaks.
 * opts may be NULL.  Returns and ret_call as
 * kmscancel_cancel_key_deletion_async().  Since LIBKMSCANCEL_3.
 */
KMSCANCEL_API kmscancel_error kmscancel_watch_guard_async(kmscancel *h, const kmscancel_watch_options *opts,
							  kmscancel_guard_event_callback event_callback,
							  kmscancel_callback callback, void *userdata,
							  kmscancel_call **ret_call);

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Coalescing identical cancels.  A cancel of a key that is already being
 * cancelled (same key as its ARN would name it, same enableKey) does not
 * call KMS again: it joins the flight of the first (the leader) as a
 * follower and gets its answer (operation_finish()).  Each follower was
 * authorised on its own and keeps its own deadline.
 *
 * This module keeps the table of flights and their members; what a member
 * is and how it is answered is operation.c's.  Not thread-safe: the loop
 * thread only.
 */
#include <stddef.h>

struct operation;
struct flight;

/* The flights in the air, one per leader; zero-initialised is empty. */
struct flight_table {
	struct flight *first;
};

/* The flight whose key is key, or NULL. */
struct flight *flight_find(const struct flight_table *t, const char *key);

/*
 * Opens a flight led by leader under key (taken: freed with the flight,
 * also on failure) so that later identical cancels find it.  Returns 0
 * with *ret set, or -ENOMEM.
 */
int flight_open(struct flight_table *t, char *key, struct operation *leader, struct flight **ret);

/* Adds follower to f.  0 or -ENOMEM (then it is not added). */
int flight_join(struct flight *f, struct operation *follower);

/* Takes follower out of f (its own deadline passed, or shutdown); nothing
 * if it is not in it. */
void flight_leave(struct flight *f, struct operation *follower);

/* The leader of f. */
struct operation *flight_leader(const struct flight *f);

/*
 * Closes f: no newcomer may join any more.  Frees f and hands its
 * followers over in *ret_followers (malloc'ed, in the order they joined,
 * NULL when there are none): returns how many.  NULL-safe (returns 0).
 */
size_t flight_close(struct flight_table *t, struct flight *f, struct operation ***ret_followers);

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The two C ends of the ring-buffer bench (bench/ring.ts), each pinned to a CPU of its own:
 *
 *   ring-tool produce CPU RATE MAX_MS           fd 3: the producer program (ring_producer.bpf.c)
 *     Runs the program with BPF_PROG_TEST_RUN (repeat) until its stdin closes, or for MAX_MS at
 *     most: flat out when RATE is 0, else paced to RATE runs per second (the runs owed by the
 *     clock, every few hundred µs). Prints "start" when it begins, then one JSON line: runs,
 *     calls, wall_ns, cpu_ns.
 *
 *   ring-tool consume CPU WARMUP_MS WINDOW_MS   fd 3: the ring map, fd 4: the producer's
 *                                               counters (per-CPU array), fd 5: its sequence
 *     The ring's own limit: libbpf's ring_buffer__poll with a callback that only counts. Prints
 *     "ready", consumes until its stdin closes, drains, and prints one JSON line: the records,
 *     bytes and batches (polls that found records) read, and the window that starts WARMUP_MS after the first record (records, wall and
 *     CPU ns, and the producer's sequence and losses at both ends of it). Prints "window" as
 *     soon as the window is over (the bench then stops the producer).
 *
 * Everything else (loading, checking, judging) is the bench's job in TypeScript. */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* the counter slots it reads: the kernel contract itself, not a copy */
#include "sentinel/contract/counters.h"

#define PROG_FD 3
#define RING_FD 3
#define COUNTERS_FD 4
#define SEQ_FD 5


static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "ring-tool: %s: %s\n", what, strerror(err));
	exit(1);
}

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity", errno);
}

static long arg_num(const char *s, const char *name)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < 0) {
		fprintf(stderr, "ring-tool: %s: not a whole number: %s\n", name, s);
		exit(2);
	}
	return v;
}

/* ---- producer -------------------------------------------------------------------------- */

/* true once stdin is closed (or unreadable) */
static bool stdin_closed(void)
{
	struct pollfd in = {.fd = 0, .events = POLLIN};
	if (poll(&in, 1, 0) <= 0)
		return false;
	char buf[64];
	return read(0, buf, sizeof(buf)) <= 0;
}

static int produce(int cpu, long rate, long duration_ms)
{
	pin(cpu);
	unsigned char frame[64] = {0};
	frame[12] = 0x08; /* an Ethernet header: the program never reads the frame */
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = sizeof(frame));
	uint64_t runs = 0, calls = 0;
	const uint64_t dur = (uint64_t)duration_ms * 1000000ull;
	/* flat out: calls of ~5 ms at ~10 M runs/s, short enough to stop on time */
	const uint64_t chunk_max = rate ? (uint64_t)(rate / 200 > 0 ? rate / 200 : 1) : 50000;
	printf("start\n");
	fflush(stdout);
	const uint64_t t0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
	for (;;) {
		uint64_t el = now_ns(CLOCK_MONOTONIC) - t0;
		if (el >= dur || stdin_closed())
			break;
		uint64_t n = chunk_max;
		if (rate) {
			uint64_t owed = (uint64_t)((double)rate * (double)el / 1e9);
			if (owed <= runs) {
				struct timespec ts = {0, 200000};
				nanosleep(&ts, NULL);
				continue;
			}
			n = owed - runs;
			if (n > chunk_max)
				n = chunk_max;
		}
		o.repeat = (unsigned int)n;
		if (bpf_prog_test_run_opts(PROG_FD, &o))
			die("BPF_PROG_TEST_RUN", errno);
		if (o.retval != 1 /* XDP_DROP */) {
			fprintf(stderr, "ring-tool: the producer returned %u, not XDP_DROP (is it configured?)\n", o.retval);
			return 1;
		}
		runs += n;
		calls++;
	}
	const uint64_t wall = now_ns(CLOCK_MONOTONIC) - t0, cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	printf("{\"runs\":%" PRIu64 ",\"calls\":%" PRIu64 ",\"wall_ns\":%" PRIu64 ",\"cpu_ns\":%" PRIu64 "}\n", runs, calls, wall, cpu_ns);
	return 0;
}

/* ---- consumer -------------------------------------------------------------------------- */

struct mark {
	uint64_t records, wall_ns, cpu_ns, seq, lost_full, lost_backpressure, written;
};

struct consumer {
	uint64_t records, bytes, batches;
	uint64_t first_ns, warmup_ns, window_ns;
	int ncpus;
	int marks; /* 0: before the window, 1: inside, 2: after */
	struct mark at[2];
};

static void read_producer(struct consumer *c, struct mark *m)
{
	uint32_t zero = 0;
	uint64_t seq = 0;
	if (bpf_map_lookup_elem(SEQ_FD, &zero, &seq))
		die("reading the producer's sequence", errno);
	uint64_t *v = calloc((size_t)c->ncpus, SN_CNT_MAX * sizeof(uint64_t));
	if (!v)
		die("calloc", ENOMEM);
	if (bpf_map_lookup_elem(COUNTERS_FD, &zero, v))
		die("reading the producer's counters", errno);
	m->seq = seq;
	m->lost_full = m->lost_backpressure = m->written = 0;
	for (int i = 0; i < c->ncpus; i++) {
		m->written += v[i * SN_CNT_MAX + SN_CNT_EVENTS];
		m->lost_full += v[i * SN_CNT_MAX + SN_CNT_EVENTS_LOST_RING_FULL];
		m->lost_backpressure += v[i * SN_CNT_MAX + SN_CNT_EVENTS_LOST_BACKPRESSURE];
	}
	free(v);
}

/* Window edges are checked every 1,024 records and after every poll: reading the clock per
 * record would be most of what this consumer costs. */
static void check_window(struct consumer *c)
{
	if (c->marks >= 2 || !c->first_ns)
		return;
	uint64_t t = now_ns(CLOCK_MONOTONIC);
	uint64_t edge = c->first_ns + c->warmup_ns + (c->marks ? c->window_ns : 0);
	if (t < edge)
		return;
	struct mark *m = &c->at[c->marks++];
	m->records = c->records;
	m->wall_ns = t;
	m->cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID);
	read_producer(c, m);
	if (c->marks == 2) {
		printf("window\n");
		fflush(stdout);
	}
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct consumer *c = ctx;
	c->bytes += size;
	if (!c->records++)
		c->first_ns = now_ns(CLOCK_MONOTONIC);
	if (!(c->records & 1023))
		check_window(c);
	return 0;
}

static int consume(int cpu, long warmup_ms, long window_ms)
{
	pin(cpu);
	struct consumer c = {0};
	c.warmup_ns = (uint64_t)warmup_ms * 1000000ull;
	c.window_ns = (uint64_t)window_ms * 1000000ull;
	c.ncpus = libbpf_num_possible_cpus();
	if (c.ncpus <= 0)
		die("libbpf_num_possible_cpus", -c.ncpus);
	struct ring_buffer *rb = ring_buffer__new(RING_FD, on_record, &c, NULL);
	if (!rb)
		die("ring_buffer__new", errno);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int n = ring_buffer__poll(rb, 20);
		if (n < 0 && n != -EINTR)
			die("ring_buffer__poll", -n);
		if (n > 0)
			c.batches++;
		check_window(&c);
		if (stdin_closed())
			break; /* the bench closed our stdin: the producer is done */
	}
	int n = ring_buffer__consume(rb);
	if (n < 0)
		die("ring_buffer__consume", -n);
	if (n > 0)
		c.batches++;
	ring_buffer__free(rb);
	printf("{\"records\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"window\":", c.records, c.bytes, c.batches);
	if (c.marks < 2) {
		printf("null}\n");
		return 0;
	}
	const struct mark *a = &c.at[0], *b = &c.at[1];
	printf("{\"records\":%" PRIu64 ",\"wall_ns\":%" PRIu64 ",\"cpu_ns\":%" PRIu64 ",\"produced\":%" PRIu64
	       ",\"written\":%" PRIu64 ",\"lost_full\":%" PRIu64 ",\"lost_backpressure\":%" PRIu64 "}}\n",
	       b->records - a->records, b->wall_ns - a->wall_ns, b->cpu_ns - a->cpu_ns, b->seq - a->seq, b->written - a->written,
	       b->lost_full - a->lost_full, b->lost_backpressure - a->lost_backpressure);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "produce"))
		return produce((int)arg_num(argv[2], "CPU"), arg_num(argv[3], "RATE"), arg_num(argv[4], "MAX_MS"));
	if (argc == 5 && !strcmp(argv[1], "consume"))
		return consume((int)arg_num(argv[2], "CPU"), arg_num(argv[3], "WARMUP_MS"), arg_num(argv[4], "WINDOW_MS"));
	fprintf(stderr, "usage: ring-tool produce CPU RATE MAX_MS        (fd 3: program)\n"
			"       ring-tool consume CPU WARMUP_MS WINDOW_MS (fd 3: ring, 4: counters, 5: sequence)\n");
	return 2;
}

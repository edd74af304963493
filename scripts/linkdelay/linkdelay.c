/*
 * linkdelay: hold every packet of one netfilter queue for a fixed delay, then accept it, in arrival
 * order (a FIFO, so nothing is reordered). It stands in for netem's "delay" on kernels without
 * sch_netem: scripts/testcluster puts an iptables NFQUEUE rule on a simulated host's egress
 * (mangle POSTROUTING, -o eth0) and runs one linkdelay in that host's network namespace.
 *
 *   linkdelay -q QUEUE -d DELAY_US [-p PIDFILE] [-n MAXLEN]
 *
 * Copy mode META (the kernel sends each packet's id and metadata, no payload) and NFQA_CFG_F_GSO
 * (GSO packets are queued whole, not segmented), so with TSO/GSO on the veth pairs one queued
 * packet is up to 64 KB and the packet rate stays small. Verdicts go out in batches
 * (nfq_set_verdict_batch: every id up to the last due one; ids grow in arrival order).
 * The delay is counted from when this process reads the packet and ends when its timer wakes it,
 * so its wake-up latency would add to it twice; it keeps a running mean of its timers' lateness,
 * wakes that much early and takes the same amount off the read time of a packet that woke it.
 * What remains (scheduling jitter, and the wait of a packet while this process is runnable but not
 * running) is not compensated; the statistics printed on SIGTERM/SIGINT (and SIGUSR1: cpu,
 * packets, verdict batches, how late the verdicts were against the due time) show it. On SIGTERM/SIGINT every packet still held is accepted at
 * once, the queue is unbound and the pid file removed. Without a listener, the kernel drops what the
 * rule queues (no --queue-bypass), so remove the rule first, then stop this process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define RING 65536 /* held packets at most (a power of two); the queue's maxlen is below it */

struct held { uint32_t id; int64_t due_ns; };

struct state {
    struct held ring[RING];
    uint32_t head, tail;          /* ring[head .. tail) are held, oldest first */
    int64_t delay_ns;
    uint64_t packets, batches, lost_reads, max_held;
    int64_t late_max_ns, late_sum_ns; /* verdict time minus due time, per packet */
    uint64_t late_over_100us;
    int64_t start_ns;
    int64_t advance_ns;           /* how much earlier than due the timer is set (see main) */
    uint64_t wakeups;
    int64_t backdate_ns;          /* subtracted from the next packet's read time (see main) */
};

static volatile sig_atomic_t stop_requested = 0, stats_requested = 0;
static void on_stop(int sig) { (void)sig; stop_requested = 1; }
static void on_stats(int sig) { (void)sig; stats_requested = 1; }

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data) {
    (void)msg;
    struct state *s = data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph) return 0;
    uint32_t id = ntohl(ph->packet_id);
    if (s->tail - s->head >= RING) { /* cannot happen with maxlen < RING; never drop */
        nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
        return 0;
    }
    s->ring[s->tail % RING] = (struct held){ id, now_ns() - s->backdate_ns + s->delay_ns };
    s->backdate_ns = 0;
    s->tail++;
    s->packets++;
    if (s->tail - s->head > s->max_held) s->max_held = s->tail - s->head;
    return 0;
}

/* Accepts every held packet due by `now` (all of them when `all`). */
static void release(struct nfq_q_handle *qh, struct state *s, int64_t now, int all) {
    uint32_t last = 0;
    int any = 0;
    while (s->head != s->tail && (all || s->ring[s->head % RING].due_ns <= now + s->advance_ns)) {
        struct held h = s->ring[s->head % RING];
        int64_t late = now - h.due_ns;
        if (!all) {
            if (late > s->late_max_ns) s->late_max_ns = late;
            s->late_sum_ns += late;
            if (late > 100000) s->late_over_100us++;
        }
        last = h.id; any = 1;
        s->head++;
    }
    if (any) {
        nfq_set_verdict_batch(qh, last, NF_ACCEPT);
        s->batches++;
    }
}

static void print_stats(const struct state *s, int queue) {
    double secs = (now_ns() - s->start_ns) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    fprintf(stderr, "linkdelay queue %d: delay %.1f us, cpu %.2f s, %" PRIu64 " packets in %.1f s (%.0f/s), %" PRIu64
            " verdict batches, at most %" PRIu64 " held, verdict late by mean %.1f us, max %.1f us, %" PRIu64
            " packets > 100 us late, timer advance %.1f us, %" PRIu64 " lost reads (ENOBUFS)\n",
            queue, s->delay_ns / 1e3, cpu, s->packets, secs, secs > 0 ? s->packets / secs : 0.0, s->batches,
            s->max_held, s->packets ? s->late_sum_ns / 1e3 / s->packets : 0.0, s->late_max_ns / 1e3,
            s->late_over_100us, s->advance_ns / 1e3, s->lost_reads);
    fflush(stderr);
}

static void usage(void) {
    fprintf(stderr, "usage: linkdelay -q QUEUE -d DELAY_US [-p PIDFILE] [-n MAXLEN]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int queue = -1, opt;
    double delay_us = -1;
    unsigned maxlen = 16384;
    const char *pidfile = NULL;
    while ((opt = getopt(argc, argv, "q:d:p:n:")) != -1) {
        switch (opt) {
        case 'q': queue = atoi(optarg); break;
        case 'd': delay_us = atof(optarg); break;
        case 'p': pidfile = optarg; break;
        case 'n': maxlen = (unsigned)atoi(optarg); break;
        default: usage();
        }
    }
    if (queue < 0 || queue > 65535 || delay_us < 0 || maxlen < 1 || maxlen >= RING) usage();

    static struct state s; /* the ring is 1 MB: not on the stack */
    s.delay_ns = (int64_t)(delay_us * 1e3 + 0.5);
    s.start_ns = now_ns();

    /* Timers as exact as the kernel gives them (the default slack is 50 us, a quarter of 0.2 ms). */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    struct nfq_handle *h = nfq_open();
    if (!h) { perror("linkdelay: nfq_open"); return 5; }
    struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)queue, &on_packet, &s);
    if (!qh) { fprintf(stderr, "linkdelay: cannot bind queue %d (another listener?)\n", queue); return 5; }
    if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) { perror("linkdelay: nfq_set_mode META"); return 5; }
    if (nfq_set_queue_maxlen(qh, maxlen) < 0) { perror("linkdelay: nfq_set_queue_maxlen"); return 5; }
    if (nfq_set_queue_flags(qh, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO) < 0) { perror("linkdelay: NFQA_CFG_F_GSO"); return 5; }
    nfnl_rcvbufsiz(nfq_nfnlh(h), 8u << 20);
    int fd = nfq_fd(h);

    /* SIGTERM/SIGINT/SIGUSR1 are blocked except inside ppoll, so none is missed between checks. */
    sigset_t block, wait_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM); sigaddset(&block, SIGINT); sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    struct sigaction sa = { 0 };
    sa.sa_handler = on_stop; sigaction(SIGTERM, &sa, NULL); sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_stats; sigaction(SIGUSR1, &sa, NULL);

    if (pidfile) {
        FILE *f = fopen(pidfile, "w");
        if (!f) { perror("linkdelay: pid file"); return 5; }
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
    }
    fprintf(stderr, "linkdelay queue %d: holding packets %.1f us (pid %d)\n", queue, delay_us, (int)getpid());
    fflush(stderr);

    static char buf[1 << 16];
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    while (!stop_requested) {
        int64_t now = now_ns();
        release(qh, &s, now, 0);
        if (stats_requested) { stats_requested = 0; print_stats(&s, queue); }
        struct timespec timeout, *tp = NULL;
        int64_t wake_at = 0, wait = -1;
        if (s.head != s.tail) {
            wake_at = s.ring[s.head % RING].due_ns - s.advance_ns;
            wait = wake_at - now;
            if (wait < 0) wait = 0;
            timeout.tv_sec = wait / 1000000000; timeout.tv_nsec = wait % 1000000000;
            tp = &timeout;
        }
        int r = ppoll(&pfd, 1, tp, &wait_mask);
        if (r < 0) {
            if (errno == EINTR) continue;
            perror("linkdelay: ppoll"); break;
        }
        if (r == 0 && wait > 0) {
            /* The timer fired: how late the wake-up came. Its running mean (1/16 per wake-up, at most
             * half the delay) becomes the advance, so that verdicts land on the due time on average
             * rather than one wake-up latency after it (tens of us on an idle virtual machine). */
            int64_t target = now_ns() - wake_at;
            if (target < 0) target = 0;
            if (target > s.delay_ns / 2) target = s.delay_ns / 2;
            s.advance_ns += (target - s.advance_ns) / 16;
            s.wakeups++;
            continue;
        }
        if (r == 0) continue;
        /* A packet woke this process: it waited in the kernel for about one wake-up latency, which
         * the same estimate takes off its read time (the first packet read only). */
        if (wait != 0) s.backdate_ns = s.advance_ns;
        for (;;) { /* read everything queued so far */
            ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) { nfq_handle_packet(h, buf, (int)n); continue; }
            if (n < 0 && errno == ENOBUFS) { s.lost_reads++; continue; } /* later batch verdicts cover their ids */
            if (n < 0 && errno == EINTR) continue;
            break;
        }
        s.backdate_ns = 0;
    }
    release(qh, &s, now_ns(), 1);
    print_stats(&s, queue);
    nfq_destroy_queue(qh);
    nfq_close(h);
    if (pidfile) unlink(pidfile);
    return 0;
}

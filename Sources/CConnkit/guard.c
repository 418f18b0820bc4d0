// Signal handling for inputs that change underneath and temporary outputs that must not outlive the
// process (see CConnkit.h, "Guard"). Everything a handler touches is a fixed-size static table of atomics
// or inline buffers, and a handler calls only async-signal-safe functions (unlink, write, _exit,
// sigaction, raise).
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "CConnkit.h"

#define CK_MAX_MAPPINGS 4096
#define CK_MAX_TEMPS 256
#define CK_PATH_BYTES 4096

// A mapped input: [start, end) and its path (strdup'ed; freed on unregistering, which only the thread
// that owns the mapping does, after it stopped reading it, so a handler faulting inside it never sees
// the path freed).
struct ck_mapping {
    _Atomic uintptr_t start;
    _Atomic uintptr_t end;
    _Atomic(char *) path;
};
static struct ck_mapping mappings[CK_MAX_MAPPINGS];

// A temporary output: its path inline (a handler may read any slot while another thread frees one),
// published by `state` (0 free, 1 being filled, 2 registered).
struct ck_temp {
    atomic_int state;
    char path[CK_PATH_BYTES];
};
static struct ck_temp temps[CK_MAX_TEMPS];

static atomic_int json_errors;
static atomic_int installed;
// Set by the first thread that reports a changed input: threads of a parallel read fault together, and
// only one line (one JSON object) may be printed.
static atomic_int reporting;

// The actions in place before ours, to chain to for signals that are not ours to handle.
static struct sigaction previous[65];

int ck_guard_register_mapping(const void *start, size_t length, const char *path) {
    if (length == 0) return -1;
    char *copy = strdup(path);
    if (!copy) return -1;
    for (int i = 0; i < CK_MAX_MAPPINGS; i++) {
        char *expected = NULL;
        if (atomic_compare_exchange_strong(&mappings[i].path, &expected, copy)) {
            atomic_store(&mappings[i].start, (uintptr_t)start);
            atomic_store(&mappings[i].end, (uintptr_t)start + length);
            return i;
        }
    }
    free(copy);
    return -1;
}

void ck_guard_unregister_mapping(int slot) {
    if (slot < 0 || slot >= CK_MAX_MAPPINGS) return;
    atomic_store(&mappings[slot].start, 0);
    atomic_store(&mappings[slot].end, 0);
    free(atomic_exchange(&mappings[slot].path, NULL));
}

int ck_guard_register_temp(const char *path) {
    size_t length = strlen(path);
    if (length >= CK_PATH_BYTES) return -1;
    for (int i = 0; i < CK_MAX_TEMPS; i++) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&temps[i].state, &expected, 1)) {
            memcpy(temps[i].path, path, length + 1);
            atomic_store(&temps[i].state, 2);
            return i;
        }
    }
    return -1;
}

void ck_guard_unregister_temp(int slot) {
    if (slot < 0 || slot >= CK_MAX_TEMPS) return;
    atomic_store(&temps[slot].state, 0);
}

void ck_guard_remove_temps(void) {
    for (int i = 0; i < CK_MAX_TEMPS; i++) {
        if (atomic_load(&temps[i].state) == 2) unlink(temps[i].path);
    }
}

void ck_guard_set_json(int json) { atomic_store(&json_errors, json); }

// The registered path of the input mapping that holds `address`, or NULL.
static const char *mapping_at(uintptr_t address) {
    for (int i = 0; i < CK_MAX_MAPPINGS; i++) {
        uintptr_t start = atomic_load(&mappings[i].start);
        if (start != 0 && address >= start && address < atomic_load(&mappings[i].end)) {
            return atomic_load(&mappings[i].path);
        }
    }
    return NULL;
}

// --- async-signal-safe output ---

struct line {
    char bytes[2 * CK_PATH_BYTES + 512];
    size_t used;
};

static void put(struct line *l, const char *text, size_t n) {
    for (size_t i = 0; i < n && l->used < sizeof l->bytes; i++) l->bytes[l->used++] = text[i];
}

static void puts_(struct line *l, const char *text) { put(l, text, strlen(text)); }

// A file-derived string with its control characters escaped: `\u{1b}` on the terminal (as the CLI's
// `printable` does), `\u001b` in JSON (plus `\"` and `\\`).
static void put_escaped(struct line *l, const char *text, int json) {
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        unsigned char c = *p;
        if (c < 0x20 || c == 0x7f) {
            if (json) {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                put(l, e, 6);
            } else if (c < 0x10) {
                char e[5] = {'\\', 'u', '{', hex[c], '}'};
                put(l, e, 5);
            } else {
                char e[6] = {'\\', 'u', '{', hex[c >> 4], hex[c & 15], '}'};
                put(l, e, 6);
            }
        } else if (json && (c == '"' || c == '\\')) {
            char e[2] = {'\\', (char)c};
            put(l, e, 2);
        } else {
            put(l, (const char *)p, 1);
        }
    }
}

static void write_all(int fd, const char *bytes, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, bytes, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        bytes += w;
        n -= (size_t)w;
    }
}

static const char changed[] = ": changed while being read (it shrank while connkit had it mapped; it must not be "
                              "modified while connkit reads it)";

static void report_changed_input(const char *path) {
    int saved = errno;
    struct line l = {.used = 0};
    puts_(&l, "connkit: ");
    put_escaped(&l, path, 0);
    puts_(&l, changed);
    puts_(&l, "\n");
    write_all(2, l.bytes, l.used);
    if (atomic_load(&json_errors)) {
        l.used = 0;
        puts_(&l, "{\"error\": \"");
        put_escaped(&l, path, 1);
        puts_(&l, changed);
        puts_(&l, "\", \"code\": \"io\"}\n");
        write_all(1, l.bytes, l.used);
    }
    errno = saved;
}

// --- handlers ---

// Hands a signal on to the action that was in place before ours (Swift's backtracer, a sanitizer,
// libFuzzer) or, when that was the default, lets the default action happen.
static void chain(int sig, siginfo_t *info, void *context) {
    struct sigaction *before = &previous[sig];
    if (before->sa_flags & SA_SIGINFO) {
        if (before->sa_sigaction) {
            before->sa_sigaction(sig, info, context);
            return;
        }
    } else if (before->sa_handler != SIG_DFL && before->sa_handler != SIG_IGN && before->sa_handler != NULL) {
        before->sa_handler(sig);
        return;
    }
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    sigaction(sig, &fallback, NULL);
    // A fault returns to the faulting instruction, which faults again with the default action; a
    // signal that was sent (kill, raise, abort) must be sent again.
    if (info == NULL || info->si_code <= 0) raise(sig);
}

static void on_fault(int sig, siginfo_t *info, void *context) {
    if (sig == SIGBUS && info != NULL) {
        const char *path = mapping_at((uintptr_t)info->si_addr);
        if (path != NULL) {
            if (atomic_exchange(&reporting, 1) != 0) {
                for (;;) pause();  // another thread is reporting and ending the process
            }
            ck_guard_remove_temps();
            report_changed_input(path);
            _exit(2);
        }
    }
    // Not ours to explain: the temporary outputs go, then whoever handled it before reports it.
    ck_guard_remove_temps();
    chain(sig, info, context);
}

static void on_termination(int sig, siginfo_t *info, void *context) {
    ck_guard_remove_temps();
    chain(sig, info, context);
}

// Installs `handler` for `sig`, keeping the action before it for `chain`. A termination signal the
// process was told to ignore (nohup, a background job) stays ignored.
static void install(int sig, void (*handler)(int, siginfo_t *, void *), int keep_ignored) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = handler;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (sigaction(sig, &action, &previous[sig]) != 0) return;
    if (keep_ignored && !(previous[sig].sa_flags & SA_SIGINFO) && previous[sig].sa_handler == SIG_IGN) {
        sigaction(sig, &previous[sig], NULL);
    }
}

void ck_guard_install(void) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&installed, &expected, 1)) return;
    // A mask inherited from the parent (a thread of a program that spawned connkit with most signals
    // blocked, as Dispatch's worker threads have them) would keep these from ever arriving: unblocked here,
    // on the main thread, before any other thread is started, so every thread inherits it.
    sigset_t handled;
    sigemptyset(&handled);
    int faults[] = {SIGBUS, SIGSEGV, SIGILL, SIGFPE, SIGABRT, SIGTRAP};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        install(faults[i], on_fault, 0);
        sigaddset(&handled, faults[i]);
    }
    int terminations[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof terminations / sizeof terminations[0]; i++) {
        install(terminations[i], on_termination, 1);
        sigaddset(&handled, terminations[i]);
    }
    pthread_sigmask(SIG_UNBLOCK, &handled, NULL);
    // Beyond `ulimit -f` a write fails with EFBIG (reported, temporary file removed) instead of the
    // signal killing the process.
    signal(SIGXFSZ, SIG_IGN);
}

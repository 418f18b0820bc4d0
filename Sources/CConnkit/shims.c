#define _GNU_SOURCE
#include <unistd.h>
#include <errno.h>
#include <sys/syscall.h>
#include "CConnkit.h"

ssize_t ck_copy_file_range(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len) {
#ifdef SYS_copy_file_range
    loff_t in = off_in ? *off_in : 0, out = off_out ? *off_out : 0;
    ssize_t r = syscall(SYS_copy_file_range, fd_in, off_in ? &in : NULL, fd_out, off_out ? &out : NULL, len, 0u);
    if (r > 0) {
        if (off_in) *off_in = in;
        if (off_out) *off_out = out;
    }
    return r;
#else
    errno = ENOSYS;
    return -1;
#endif
}

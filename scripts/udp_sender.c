/* Bounded UDP sender for scripts/bench.py: COUNT datagrams of SIZE bytes to 127.0.0.1:PORT at
 * RATE per second (0: as fast as possible), then prints how many it sent and the achieved rate.
 * Only loopback is allowed; it stops after COUNT packets or MAX_SECONDS, whichever comes first. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s PORT COUNT RATE SIZE MAX_SECONDS\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    long count = atol(argv[2]);
    double rate = atof(argv[3]), max_seconds = atof(argv[5]);
    int size = atoi(argv[4]);
    char buf[2048];
    if (size < 1 || size > (int)sizeof buf) return 2;
    memset(buf, 'n', sizeof buf);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    double start = now();
    long sent = 0;
    while (sent < count) {
        double t = now() - start;
        if (t > max_seconds) break;
        long due = rate > 0 ? (long)(t * rate) + 1 : count;
        if (due > count) due = count;
        if (sent >= due) continue; /* busy-wait: sub-millisecond pacing */
        for (; sent < due; sent++) {
            memcpy(buf, &sent, sizeof sent);
            if (sendto(fd, buf, size, 0, (struct sockaddr *)&to, sizeof to) < 0) { sent--; break; }
        }
    }
    double secs = now() - start;
    printf("%ld %.1f\n", sent, secs > 0 ? sent / secs : 0.0);
    close(fd);
    return 0;
}

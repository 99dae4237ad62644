/* A small multithreaded program for traces/real: three threads each map, write, protect,
 * grow (mremap) and unmap anonymous memory, and use malloc (brk and per-thread arenas). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static void *work(void *arg) {
  long id = (long)arg;
  for (int i = 0; i < 4; i++) {
    size_t n = (size_t)(16 + 8 * id + i) << 12;
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    memset(p, 1, n);
    char *q = mremap(p, n, 2 * n, MREMAP_MAYMOVE); /* grow, maybe move */
    if (q == MAP_FAILED) q = p;
    else n *= 2;
    mprotect(q, 4096, PROT_READ); /* the first page becomes read-only */
    munmap(q, n);
    free(malloc(200000 + (size_t)id)); /* above the mmap threshold: mmap + munmap */
    free(malloc(1000));                /* from the thread's arena */
  }
  return NULL;
}

int main(void) {
  pthread_t t[3];
  for (long i = 0; i < 3; i++) pthread_create(&t[i], NULL, work, (void *)i);
  char *b = malloc(100000); /* grows the heap with brk */
  memset(b, 2, 100000);
  free(b);
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  puts("done");
  return 0;
}

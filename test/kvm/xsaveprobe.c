/* xsaveprobe: XSAVE/XCRS ioctl matrix on the real /dev/kvm, driven by
 * test/kvm/xsave_diff.test.ts. Reads one case per stdin line, prints one JSON
 * object per line. Each case gets a fresh VM and vCPU. NEVER calls KVM_RUN and
 * refuses (exit 2) any XSTATE_BV or XCR0 with an AMX bit (17, 18), so no AMX
 * state can reach the device.
 *   F <cpuid|->           fresh vCPU: cap XSAVE2 (dev, vm), GET_XSAVE2, GET_XCRS, GET_CPUID2
 *   X <cpuid|-> <xsave>   SET_XSAVE(4096 bytes) then GET_XSAVE2
 *   C <cpuid|-> <xcrs>    SET_XCRS(392 bytes) then GET_XCRS, GET_CPUID2
 *   L <cpuid> <xsave>     no CPUID: SET_XSAVE, GET_XSAVE2; then SET_CPUID2(cpuid), GET_XSAVE2
 * X and L also report the 4096-byte KVM_GET_XSAVE after the last step.
 * <cpuid> is a raw struct kvm_cpuid2 in hex, '-' = no KVM_SET_CPUID2. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define AMX ((1ull << 17) | (1ull << 18))
static long rc(int fd, unsigned long req, void *arg) {
  long r = ioctl(fd, req, arg);
  return r < 0 ? -errno : r;
}
static size_t unhex(const char *s, uint8_t *out, size_t max) {
  size_t n = 0;
  while (s[0] && s[1] && n < max) { unsigned v; sscanf(s, "%2x", &v); out[n++] = v; s += 2; }
  return n;
}
static void phex(const uint8_t *b, size_t n) { for (size_t i = 0; i < n; i++) printf("%02x", b[i]); }

int main(void) {
  static char line[1 << 16];
  static uint8_t cpuid[8 + 40 * 256], buf[4096], out[16384];
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) { printf("{\"error\":\"open /dev/kvm: %s\"}\n", strerror(errno)); return 0; }
  while (fgets(line, sizeof line, stdin)) {
    char op = line[0], *c = strtok(line + 1, " \n"), *p = strtok(NULL, " \n");
    if (!c) continue;
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) { printf("{\"error\":\"KVM_CREATE_VM %d\"}\n", errno); return 1; }
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) { printf("{\"error\":\"KVM_CREATE_VCPU %d\"}\n", errno); return 1; }
    long cpuidrc = 0;
    if (op == 'L') {
      memset(buf, 0, sizeof buf); unhex(p, buf, sizeof buf);
      uint64_t bv; memcpy(&bv, buf + 512, 8);
      if (bv & AMX) { fprintf(stderr, "refusing AMX XSTATE_BV\n"); return 2; }
      printf("{\"set\":%ld", rc(vcpu, KVM_SET_XSAVE, buf));
      memset(out, 0xcc, sizeof out);
      printf(",\"get0\":%ld,\"out0\":\"", rc(vcpu, KVM_GET_XSAVE2, out)); phex(out, 4096); printf("\",");
    } else printf("{");
    if (strcmp(c, "-")) { memset(cpuid, 0, sizeof cpuid); unhex(c, cpuid, sizeof cpuid); cpuidrc = rc(vcpu, KVM_SET_CPUID2, cpuid); }
    long xs2 = rc(kvm, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_XSAVE2);
    printf("\"cpuid\":%ld", cpuidrc);
    if (op == 'F') {
      printf(",\"cap\":%ld,\"vmcap\":%ld", xs2, rc(vm, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_XSAVE2));
    } else if (op == 'X') {
      memset(buf, 0, sizeof buf); unhex(p, buf, sizeof buf);
      uint64_t bv; memcpy(&bv, buf + 512, 8);
      if (bv & AMX) { fprintf(stderr, "refusing AMX XSTATE_BV\n"); return 2; }
      printf(",\"set\":%ld", rc(vcpu, KVM_SET_XSAVE, buf));
    } else if (op == 'C') {
      struct kvm_xcrs x; memset(&x, 0, sizeof x); unhex(p, (uint8_t *)&x, sizeof x);
      for (int i = 0; i < KVM_MAX_XCRS; i++) if (x.xcrs[i].value & AMX) { fprintf(stderr, "refusing AMX XCR0\n"); return 2; }
      printf(",\"set\":%ld", rc(vcpu, KVM_SET_XCRS, &x));
      memset(&x, 0xcc, sizeof x);
      printf(",\"get\":%ld,\"out\":\"", rc(vcpu, KVM_GET_XCRS, &x)); phex((uint8_t *)&x, sizeof x); printf("\"");
    }
    if (op == 'F' || op == 'X' || op == 'L') {
      size_t n = xs2 > 0 && xs2 <= (long)sizeof out ? (size_t)xs2 : 4096;
      memset(out, 0xcc, sizeof out);
      printf(",\"get\":%ld,\"out\":\"", rc(vcpu, KVM_GET_XSAVE2, out)); phex(out, n); printf("\"");
    }
    if (op == 'X' || op == 'L') {
      memset(out, 0xcc, sizeof out);
      printf(",\"get1\":%ld,\"out1\":\"", rc(vcpu, KVM_GET_XSAVE, out)); phex(out, 4096); printf("\"");
    }
    if (op == 'F') {
      struct kvm_xcrs x; memset(&x, 0xcc, sizeof x);
      printf(",\"xget\":%ld,\"xout\":\"", rc(vcpu, KVM_GET_XCRS, &x)); phex((uint8_t *)&x, sizeof x); printf("\"");
    }
    if (op == 'F' || op == 'C') {
      memset(cpuid, 0, sizeof cpuid); *(uint32_t *)cpuid = 256;
      long g = rc(vcpu, KVM_GET_CPUID2, cpuid);
      printf(",\"cget\":%ld,\"cout\":\"", g); phex(cpuid, g == 0 ? 8 + 40 * *(uint32_t *)cpuid : 0); printf("\"");
    }
    printf("}\n");
    fflush(stdout);
    close(vcpu); close(vm);
  }
  close(kvm);
  return 0;
}

/* Default options of the sanitizer runtimes, for a build configured
 * --with-address-sanitizer.
 *
 * The interpreter from Debian's libpython3.11.a is not instrumented and
 * keeps many allocations alive until exit by design; LeakSanitizer reports
 * them at exit and makes every run exit 1, even `./python -c 'import
 * asyncio'`.  Leaks are hunted with `make leakcheck` instead (README,
 * "Reliability checks").  ASAN_OPTIONS in the environment still overrides
 * this default.
 */

#ifdef __SANITIZE_ADDRESS__

const char *__asan_default_options(void);

const char *
__asan_default_options(void)
{
    return "detect_leaks=0";
}

#else

/* ISO C wants a translation unit to declare something. */
typedef int fork_no_sanitizer_options;

#endif

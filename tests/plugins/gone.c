/*
 * libember-test-gone - a test-only shared library that needsgone.so links
 * against and that is never where the dynamic linker looks (its rpath is
 * /nowhere), so loading needsgone.so fails on a missing dependency.
 */
int ember_test_gone(void);

int ember_test_gone(void)
{
    return 42;
}

/*  fuzz_change.c - one encoded change (common/change.h), as a WAL stores
    it and a peer sends it: change_decode, then the checks its fields get
    before anything is applied (fuzz_check.h).
*/
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    fuzz_check_change(data, len);
    return 0;
}

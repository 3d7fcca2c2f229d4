/* argmax_key.h - moved to runtime/argmax_key.h (a neutral header: runtime/sampling.c, parallel/
 * and kernels/ all pack argmax keys with it). This forward keeps the includes of branches written
 * before the move compiling; new code includes "../runtime/argmax_key.h". */
#include "../runtime/argmax_key.h"

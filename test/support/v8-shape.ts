import { setFlagsFromString } from 'node:v8';

// V8's own answer to "is this object still a fast-mode object?"; the flag only lets this
// process's code call V8 intrinsics (%Name), which nothing else here does.
setFlagsFromString('--allow-natives-syntax');

/** Whether V8 keeps `object` in fast mode (false: a dictionary, where every property read is a hash lookup). */
export const hasFastProperties = new Function('object', 'return %HasFastProperties(object)') as (object: object) => boolean;

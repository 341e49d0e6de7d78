#pragma once

struct redisReader;
struct redisReplyObjectFunctions;

namespace l0l3::HiredisArena {

// hiredis builds every reply element with its own malloc (a redisReply, and
// the string copied out of the read buffer): a page of 1000 stream entries is
// ~50,000 allocations, and as many frees. install() gives a reader functions
// that build each reply in one arena of a few large blocks instead; the
// objects are ordinary redisReply structs, read as usual.
//
// A reply built this way must be released with release(), never
// freeReplyObject(); install() makes release() the reader's freeObject, so
// hiredis' own frees (after an async callback, on a reader error) are right.
//
// Unlike hiredis 0.14's own functions, an array header declaring more than
// kMaxArrayElements elements is refused before anything is allocated (its
// pointer array alone would take count x 8 bytes on the peer's word, e.g.
// 2.2 GB for "*277778880"): the reader then fails with
// hiredis' "Out of memory" error and the connection is dropped as for any
// protocol error. No reply L0L3 reads comes near it.
inline constexpr int kMaxArrayElements = 1 << 24;
void install(redisReader *reader);
void release(void *reply);
// The functions install() sets, to copy with another freeObject that ends in
// release().
const redisReplyObjectFunctions &functions();

} // namespace l0l3::HiredisArena

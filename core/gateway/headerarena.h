#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define L0L3_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define L0L3_ASAN 1
#endif
#ifdef L0L3_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace l0l3 {

// Where a connection's request header fields live: Beast's basic_fields allocates one
// element per field and one string for the target, the heap allocations a hot-cache hit
// would otherwise make. The arena is a bump allocator over a block inside the session; a
// deallocation only counts down, and when nothing allocated from the block is alive any
// more the next request starts again at its beginning. Headers that do not fit the block
// (sized for a couple of dozen typical fields) come from the heap. Not thread-safe: one per
// connection, used on its thread.
// Under AddressSanitizer the unused part of the block is poisoned, so a field read
// after it was freed is reported as it would be on the heap.
class HeaderArena
{
public:
    static constexpr std::size_t kBlockBytes = 4096;

    HeaderArena() { poisonBlock(); }
    HeaderArena(const HeaderArena &) = delete;
    HeaderArena &operator=(const HeaderArena &) = delete;
    ~HeaderArena() { unpoison(0, kBlockBytes); }

    void *allocate(std::size_t bytes, std::size_t align)
    {
        const std::size_t start = (m_used + align - 1) & ~(align - 1);
        if (align <= alignof(std::max_align_t) && start + bytes <= kBlockBytes) {
            unpoison(start, bytes);
            m_used = start + bytes;
            ++m_live;
            return m_block + start;
        }
        ++m_spilled;
        return ::operator new(bytes, std::align_val_t(align));
    }

    void deallocate(void *p, std::size_t align)
    {
        if (p >= static_cast<void *>(m_block) && p < static_cast<void *>(m_block + kBlockBytes)) {
            if (--m_live == 0) {
                m_used = 0;
                poisonBlock();
            }
            return;
        }
        ::operator delete(p, std::align_val_t(align));
    }

    std::size_t live() const { return m_live; }
    std::size_t used() const { return m_used; }
    std::uint64_t spilled() const { return m_spilled; } // allocations that went to the heap

    // std::allocator-shaped handle; a default-constructed one (no arena) uses the heap.
    template<class T>
    struct Allocator
    {
        using value_type = T;
        using propagate_on_container_move_assignment = std::true_type;
        using propagate_on_container_copy_assignment = std::true_type;
        using propagate_on_container_swap = std::true_type;
        using is_always_equal = std::false_type;

        HeaderArena *arena = nullptr;

        Allocator() noexcept = default;
        explicit Allocator(HeaderArena *a) noexcept
            : arena(a)
        {
        }
        template<class U>
        Allocator(const Allocator<U> &other) noexcept
            : arena(other.arena)
        {
        }

        T *allocate(std::size_t n)
        {
            if (!arena)
                return static_cast<T *>(::operator new(n * sizeof(T), std::align_val_t(alignof(T))));
            return static_cast<T *>(arena->allocate(n * sizeof(T), alignof(T)));
        }
        void deallocate(T *p, std::size_t) noexcept
        {
            if (!arena)
                ::operator delete(p, std::align_val_t(alignof(T)));
            else
                arena->deallocate(p, alignof(T));
        }
        template<class U>
        bool operator==(const Allocator<U> &other) const noexcept
        {
            return arena == other.arena;
        }
    };

private:
    void poisonBlock()
    {
#ifdef L0L3_ASAN
        ASAN_POISON_MEMORY_REGION(m_block, kBlockBytes);
#endif
    }
    void unpoison([[maybe_unused]] std::size_t at, [[maybe_unused]] std::size_t bytes)
    {
#ifdef L0L3_ASAN
        ASAN_UNPOISON_MEMORY_REGION(m_block + at, bytes);
#endif
    }

    alignas(std::max_align_t) unsigned char m_block[kBlockBytes];
    std::size_t m_used = 0;
    std::size_t m_live = 0;
    std::uint64_t m_spilled = 0;
};

} // namespace l0l3

#pragma once

#include <cstddef>
#include <random>
#include <string>
#include <vector>

namespace l0l3::bench {

// Pseudo-questions over a vocabulary of made-up words (5 to 14 words each), and
// near paraphrases of them (one letter changed): the shape of an L1 workload
// without a real dataset. Deterministic for a seed.
class L1Corpus
{
public:
    explicit L1Corpus(unsigned seed = 20)
        : m_rng(seed)
    {
        std::uniform_int_distribution<int> len(3, 9);
        std::uniform_int_distribution<int> letter('a', 'z');
        for (int i = 0; i < 5000; ++i) {
            std::string w;
            for (int n = len(m_rng); n > 0; --n)
                w += static_cast<char>(letter(m_rng));
            m_vocabulary.push_back(w);
        }
    }

    std::string text()
    {
        std::uniform_int_distribution<int> count(5, 14);
        std::uniform_int_distribution<std::size_t> pick(0, m_vocabulary.size() - 1);
        std::string t;
        for (int n = count(m_rng); n > 0; --n)
            t += m_vocabulary[pick(m_rng)] + ' ';
        t.back() = '?';
        return t;
    }

    std::string typo(std::string t)
    {
        std::uniform_int_distribution<std::size_t> at(0, t.size() - 2);
        std::size_t i = at(m_rng);
        while (t[i] < 'a' || t[i] > 'z')
            i = (i + 1) % t.size();
        t[i] = t[i] == 'z' ? 'a' : static_cast<char>(t[i] + 1);
        return t;
    }

    std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(m_rng); }

private:
    std::mt19937 m_rng;
    std::vector<std::string> m_vocabulary;
};

} // namespace l0l3::bench

#pragma once

#include <QList>
#include <QString>

#include <algorithm>
#include <utility>

namespace l0l3 {

// Misses seen per region for one proposal: a handful of entries, kept sorted
// by region name in one small list rather than a QMap<QString, qint64>, whose
// shared header and node per region cost an allocation each for every
// proposal loaded. The part of QMap's interface the console uses.
class RegionCounts
{
public:
    using Entry = std::pair<QString, qint64>;

    class const_iterator
    {
    public:
        explicit const_iterator(QList<Entry>::const_iterator it)
            : m_it(it)
        {
        }
        const QString &key() const { return m_it->first; }
        qint64 value() const { return m_it->second; }
        const_iterator &operator++()
        {
            ++m_it;
            return *this;
        }
        bool operator==(const const_iterator &o) const { return m_it == o.m_it; }
        bool operator!=(const const_iterator &o) const { return m_it != o.m_it; }

    private:
        QList<Entry>::const_iterator m_it;
    };

    // Sets region's count (replacing an earlier one).
    void insert(const QString &region, qint64 count)
    {
        const qsizetype i = lowerBound(region) - m_entries.cbegin();
        if (i < m_entries.size() && m_entries.at(i).first == region)
            m_entries[i].second = count;
        else
            m_entries.insert(i, Entry{region, count});
    }

    qint64 value(const QString &region, qint64 fallback = 0) const
    {
        const Entry *e = find(region);
        return e ? e->second : fallback;
    }
    bool contains(const QString &region) const { return find(region) != nullptr; }
    qsizetype size() const { return m_entries.size(); }
    bool isEmpty() const { return m_entries.isEmpty(); }
    void reserve(qsizetype n) { m_entries.reserve(n); }

    const_iterator cbegin() const { return const_iterator(m_entries.cbegin()); }
    const_iterator cend() const { return const_iterator(m_entries.cend()); }
    const_iterator begin() const { return cbegin(); }
    const_iterator end() const { return cend(); }

private:
    QList<Entry>::const_iterator lowerBound(const QString &region) const
    {
        return std::lower_bound(m_entries.cbegin(), m_entries.cend(), region,
                                [](const Entry &e, const QString &r) { return e.first < r; });
    }
    const Entry *find(const QString &region) const
    {
        const auto it = lowerBound(region);
        return it != m_entries.cend() && it->first == region ? &*it : nullptr;
    }

    QList<Entry> m_entries;
};

} // namespace l0l3

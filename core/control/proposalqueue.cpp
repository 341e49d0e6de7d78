#include "core/control/proposalqueue.h"

#include <QDateTime>

#include <algorithm>

#include <hiredis/hiredis.h>

#include "core/common/decimal.h"
#include "core/common/proposal.h"
#include "core/common/proposalfunction.h"
#include "core/common/redisschema.h"
#include "core/common/visibletext.h"
#include "core/control/signoff.h"

namespace l0l3 {

namespace {

QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), qsizetype(s.size()));
}

std::string_view view(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR
        ? std::string_view(r->str, size_t(r->len))
        : std::string_view();
}

QString utf16(std::string_view s)
{
    return QString::fromUtf8(s.data(), qsizetype(s.size()));
}

} // namespace

ProposalQueue::ProposalQueue(RedisConnection *connection, QObject *parent)
    : QObject(parent)
    , m_connection(connection)
{
    connect(&m_pollTimer, &QTimer::timeout, this, &ProposalQueue::poll);
}

ProposalQueue::~ProposalQueue() = default;

void ProposalQueue::setPollInterval(int intervalMs)
{
    if (intervalMs <= 0)
        m_pollTimer.stop();
    else
        m_pollTimer.start(intervalMs);
}

void ProposalQueue::resetPaging(bool keepLoaded)
{
    ++m_loadGeneration; // replies still in flight are dropped
    m_readsInFlight = 0;
    m_enrichingPages = 0;
    m_settled = 0;
    // Keys of pages no longer awaited: those items are not loaded.
    if (keepLoaded)
        m_index.removeIf([this](const QHash<QString, int>::iterator &it) {
            Slot &slot = m_slots[size_t(it.value())];
            if (!slot.page)
                return false;
            slot = {};
            return true;
        });
    m_newPhase = false;
    m_streamDone = false;
    m_cursors.clear();
}

void ProposalQueue::fail(const QString &message)
{
    resetPaging();
    m_loading = false;
    m_polling = false;
    emit loadFailed(message);
    releaseRetired();
}

void ProposalQueue::load()
{
    const bool clearAll = !m_items.isEmpty() || !m_index.isEmpty();
    resetPaging(!clearAll); // everything goes below: no need to sort out the pages in flight
    m_loading = true;
    m_polling = false;
    m_loaded = 0;
    m_total = 0;
    m_scanFrom = QStringLiteral("0");
    m_entriesReadAtLoad = -1;
    m_deliveredThisLoad = 0;
    m_lastDeliveredThisLoad.clear();
    m_malformed = 0;
    m_skipped = 0;
    if (m_connection) {
        const quint64 gen = m_loadGeneration;
        ensureGroup([this, gen] {
            if (gen != m_loadGeneration)
                return;
            drainInbox([this] {
                fetchTotal();
                readPendingSummary();
            });
        });
    }
    // Freeing 100k items takes a while: it waits until this load has finished (one retired
    // generation at most: a reload during a load frees the older one now).
    if (clearAll) {
        m_retiredItems = std::exchange(m_items, {});
        m_retiredIndex = std::exchange(m_index, {});
        m_slots.clear();
        m_rowSerial.clear();
        emit cleared(); // not itemsRemoved: 100k keys would cost more than the views' reset
    }
    m_skippedKeys.clear();
    if (!m_connection)
        fail(QStringLiteral("no Redis connection"));
}

void ProposalQueue::ensureGroup(std::function<void()> next)
{
    // The console is the writer: it (re)loads the function gateways propose through. A console
    // whose user may not load it (or on a replica) still reads the queue.
    m_connection->pipeline(
        {{QByteArrayLiteral("FUNCTION"), QByteArrayLiteral("LOAD"), QByteArrayLiteral("REPLACE"),
          bytes(ProposalFunction::kLibrary)},
         {QByteArrayLiteral("XGROUP"), QByteArrayLiteral("CREATE"), bytes(RedisSchema::kProposals),
          bytes(RedisSchema::kProposalsGroup), QByteArrayLiteral("0"), QByteArrayLiteral("MKSTREAM")}},
        this, [this, next](const QList<RedisReply> &r) {
            if (r[0].isError())
                qWarning("l0l3: cannot load the Redis function library %s: %s", ProposalFunction::kLibraryName.data(),
                         qPrintable(r[0].errorMessage()));
            if (r[1].isError() && r[1].errorCode() != "BUSYGROUP") {
                fail(QStringLiteral("cannot create the consumer group: %1").arg(r[1].errorMessage()));
                return;
            }
            next();
        });
}

// The group's pending + lag is what this load will read; XLEN when the lag is
// unknown (Redis reports nil after XDEL/trimming).
void ProposalQueue::fetchTotal()
{
    const quint64 gen = m_loadGeneration;
    m_connection->pipeline({{QByteArrayLiteral("XINFO"), QByteArrayLiteral("GROUPS"), bytes(RedisSchema::kProposals)},
                            {QByteArrayLiteral("XLEN"), bytes(RedisSchema::kProposals)}},
                           this, [this, gen](const QList<RedisReply> &replies) {
                               if (gen != m_loadGeneration)
                                   return;
                               qint64 total = replies[1].isInteger() ? replies[1].integer : 0;
                               const RedisReply &groups = replies[0];
                               for (const RedisReply &g : groups.elements) {
                                   qint64 pending = -1;
                                   qint64 lag = -1;
                                   qint64 entriesRead = -1;
                                   bool nothingDelivered = false;
                                   bool ours = false;
                                   for (qsizetype i = 0; i + 1 < g.elements.size(); i += 2) {
                                       const QByteArray f = g.elements[i].str;
                                       const RedisReply &v = g.elements[i + 1];
                                       if (f == "name")
                                           ours = v.str == bytes(RedisSchema::kProposalsGroup);
                                       else if (f == "pending" && v.isInteger())
                                           pending = v.integer;
                                       else if (f == "lag" && v.isInteger())
                                           lag = v.integer;
                                       else if (f == "entries-read" && v.isInteger())
                                           entriesRead = v.integer;
                                       else if (f == "last-delivered-id")
                                           nothingDelivered = v.str == "0-0";
                                   }
                                   // A group made at 0 reports no entries-read until it delivered something.
                                   if (ours)
                                       m_entriesReadAtLoad = entriesRead >= 0 ? entriesRead : nothingDelivered ? 0 : -1;
                                   if (ours && pending >= 0 && lag >= 0)
                                       total = pending + lag;
                               }
                               m_total = total;
                           });
}

// XPENDING's summary (count, first id, last id) says how to cut the pending
// entries among the cursors.
void ProposalQueue::readPendingSummary()
{
    const quint64 gen = m_loadGeneration;
    m_connection->pipelineRaw(
        {{QByteArrayLiteral("XPENDING"), bytes(RedisSchema::kProposals), bytes(RedisSchema::kProposalsGroup)}}, this,
        [this, gen](std::vector<HiredisReply> replies, const RedisReply &error) {
            if (gen != m_loadGeneration)
                return;
            const redisReply *r = error.isError() ? nullptr : replies.front().get();
            if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_INTEGER) {
                const QString why = error.isError()     ? error.errorMessage()
                    : r && r->type == REDIS_REPLY_ERROR ? utf16(view(r))
                                                        : QStringLiteral("unexpected XPENDING reply");
                fail(QStringLiteral("cannot read the pending proposals: %1").arg(why));
                return;
            }
            const auto id = [](const redisReply *e) {
                return e->type == REDIS_REPLY_STRING ? view(e) : std::string_view();
            };
            startPendingReads(r->element[0]->integer, id(r->element[1]), id(r->element[2]));
        });
}

void ProposalQueue::poll()
{
    if (m_loading || m_polling || !m_connection || !m_connection->isReady())
        return;
    m_polling = true;
    m_scanStarted = false;
    m_cursors.clear();
    drainInbox([this] {
        m_newPhase = true;
        m_streamDone = false;
        readAhead();
    });
}

// Stream ids compare as (ms, seq); the scan only moves forward.
void ProposalQueue::noteScanned(std::string_view id)
{
    const auto parse = [](std::string_view s) -> std::optional<std::pair<std::uint64_t, std::uint64_t>> {
        const std::size_t dash = s.find('-');
        std::int64_t ms = 0;
        std::int64_t seq = 0;
        if (dash == std::string_view::npos || !Decimal::parse(s.substr(0, dash), ms)
            || !Decimal::parse(s.substr(dash + 1), seq) || ms < 0 || seq < 0)
            return std::nullopt;
        return std::pair{std::uint64_t(ms), std::uint64_t(seq)};
    };
    const auto next = parse(id);
    if (!next)
        return;
    const QByteArray from = m_scanFrom.toLatin1();
    const auto current = parse(std::string_view(from.constData(), size_t(from.size())));
    if (!current || *current < *next)
        m_scanFrom = utf16(id);
}

void ProposalQueue::skipScanPastOwnDeliveries()
{
    if (m_entriesReadAtLoad < 0 || m_deliveredThisLoad == 0 || m_lastDeliveredThisLoad.isEmpty() || !m_connection)
        return;
    const qint64 expected = m_entriesReadAtLoad + m_deliveredThisLoad;
    const QString last = m_lastDeliveredThisLoad;
    const quint64 gen = m_loadGeneration;
    // Sent before any poll's commands on this connection: the answer is in before the first scan starts.
    m_connection->command({QByteArrayLiteral("XINFO"), QByteArrayLiteral("GROUPS"), bytes(RedisSchema::kProposals)},
                          this, [this, expected, last, gen](const RedisReply &groups) {
                              if (gen != m_loadGeneration)
                                  return;
                              for (const RedisReply &g : groups.elements) {
                                  bool ours = false;
                                  qint64 entriesRead = -1;
                                  for (qsizetype i = 0; i + 1 < g.elements.size(); i += 2) {
                                      const QByteArray f = g.elements[i].str;
                                      if (f == "name")
                                          ours = g.elements[i + 1].str == bytes(RedisSchema::kProposalsGroup);
                                      else if (f == "entries-read" && g.elements[i + 1].isInteger())
                                          entriesRead = g.elements[i + 1].integer;
                                  }
                                  if (ours && entriesRead == expected) {
                                      const QByteArray id = last.toLatin1();
                                      noteScanned(std::string_view(id.constData(), size_t(id.size())));
                                  }
                              }
                          });
}

void ProposalQueue::startScan()
{
    m_scanStarted = true;
    m_cursors.assign(1, Cursor{});
    readPage(m_scanFrom, 0);
}

// Gateways only append to the inbox; the console moves what they proposed
// into the stream (FCALL l0l3_drain, kDrainBatch elements a call, at most
// kDrainRounds calls before next() reads the stream), so the stream and its
// readers never see a gateway's write. Elements the function dropped are
// counted as malformed. A failed drain (an older ACL or library, a replica)
// leaves the proposals in the inbox and the stream is read all the same.
void ProposalQueue::drainInbox(std::function<void()> next, int roundsLeft)
{
    const quint64 gen = m_loadGeneration;
    m_connection->command({QByteArrayLiteral("FCALL"), bytes(ProposalFunction::kDrainName), QByteArrayLiteral("0"),
                           QByteArray::number(kDrainBatch)},
                          this, [this, gen, next = std::move(next), roundsLeft](const RedisReply &r) {
                              if (gen != m_loadGeneration)
                                  return;
                              const bool ok = !r.isError() && r.elements.size() == 3 && r.elements[0].isInteger()
                                  && r.elements[1].isInteger();
                              if (!ok) {
                                  drainFailed(r.isError() ? r.errorMessage()
                                                          : QStringLiteral("unexpected reply to FCALL %1")
                                                                .arg(utf16(ProposalFunction::kDrainName)));
                                  next();
                                  return;
                              }
                              m_lastDrainError.clear();
                              noteDropped(r.elements[2]);
                              if (r.elements[1].integer > 0 && roundsLeft > 1)
                                  drainInbox(next, roundsLeft - 1);
                              else
                                  next();
                          });
}

void ProposalQueue::drainFailed(const QString &message)
{
    if (message == m_lastDrainError)
        return; // once per cause, not once per poll
    m_lastDrainError = message;
    const std::string shown = VisibleText::escape(message.left(300).toStdString());
    qWarning("l0l3: cannot move proposals from the inbox to the queue: %s", shown.c_str());
    emit inboxDrainFailed(QString::fromStdString(shown));
}

// dropped: [why, first bytes, ...] of the inbox elements l0l3_drain refused.
// Both come from whoever pushed the element: shown escaped and truncated.
void ProposalQueue::noteDropped(const RedisReply &dropped)
{
    constexpr int kLoggedPerDrain = 3;
    QStringList reasons;
    for (qsizetype i = 0; i + 1 < dropped.elements.size(); i += 2) {
        ++m_malformed;
        ++m_inboxDropped;
        const std::string why = VisibleText::escape(dropped.elements[i].str.left(200).toStdString());
        const std::string start = VisibleText::escape(dropped.elements[i + 1].str.left(60).toStdString());
        if (reasons.size() < kLoggedPerDrain)
            qWarning("l0l3: dropped a malformed proposal from the inbox: %s (it starts \"%s\")", why.c_str(),
                     start.c_str());
        reasons.append(QStringLiteral("inbox: ") + QString::fromStdString(why));
    }
    if (reasons.size() > kLoggedPerDrain)
        qWarning("l0l3: dropped %lld more malformed proposals from the inbox",
                 qlonglong(reasons.size() - kLoggedPerDrain));
    if (!reasons.isEmpty())
        emit malformedSkipped(reasons, m_malformed);
}

// New entries (">") need no id, so kReadAhead reads are kept in flight and
// Redis reads the next page while this thread decodes one (pending ones go by
// cursors: startPendingReads).
void ProposalQueue::readAhead()
{
    while (m_newPhase && !m_streamDone && m_readsInFlight < kReadAhead)
        readPage(QStringLiteral(">"));
}

namespace {

// The id of a stream entry as XREADGROUP returns it ([id, fields]); empty if it has none.
std::string_view entryId(const redisReply *entry)
{
    return entry->type == REDIS_REPLY_ARRAY && entry->elements == 2 && entry->element[0]->type == REDIS_REPLY_STRING
        ? view(entry->element[0])
        : std::string_view();
}

// The millisecond part of a stream id ("1700000000000-3"); nullopt if it is none.
std::optional<std::uint64_t> streamIdMs(std::string_view id)
{
    const std::size_t dash = id.find('-');
    std::int64_t ms = 0;
    if (dash == std::string_view::npos || !Decimal::parse(id.substr(0, dash), ms) || ms < 0)
        return std::nullopt;
    return std::uint64_t(ms);
}

} // namespace

// Cuts the pending entries' time range into up to kReadAhead slices, one
// cursor each (one from "0" when there are few or the range is too short to
// cut). A cursor's first read starts at its slice ("ms-1" with the largest
// sequence number: every id from ms on).
void ProposalQueue::startPendingReads(qint64 count, std::string_view firstId, std::string_view lastId)
{
    m_cursors.clear();
    const auto first = streamIdMs(firstId);
    const auto last = streamIdMs(lastId);
    std::uint64_t slices = 1;
    if (first && last && *last > *first && count >= 2 * qint64(m_pageSize))
        slices = std::min<std::uint64_t>({kReadAhead, std::uint64_t(count / m_pageSize), *last - *first + 1});
    const std::uint64_t span = slices > 1 ? *last - *first + 1 : 0;
    for (std::uint64_t j = 0; j < slices; ++j) {
        Cursor c;
        c.bounded = j + 1 < slices;
        c.endMs = c.bounded ? *first + span * (j + 1) / slices : 0;
        m_cursors.push_back(c);
    }
    for (std::size_t j = 0; j < m_cursors.size(); ++j) {
        const QString from = j == 0 ? QStringLiteral("0")
                                    : QStringLiteral("%1-18446744073709551615").arg(m_cursors[j - 1].endMs - 1);
        readPage(from, int(j));
    }
}

void ProposalQueue::cursorDone(int cursor)
{
    m_cursors[size_t(cursor)].done = true;
    if (m_newPhase) {
        finishIfDone(); // a poll's scan ended
        return;
    }
    if (std::any_of(m_cursors.cbegin(), m_cursors.cend(), [](const Cursor &c) { return !c.done; }))
        return;
    m_newPhase = true; // pending entries done: now the new ones
    readAhead();
}

void ProposalQueue::readPage(const QString &fromId, int cursor)
{
    if (!m_connection) {
        fail(QStringLiteral("no Redis connection"));
        return;
    }
    const quint64 gen = m_loadGeneration;
    const QList<QByteArray> xread{QByteArrayLiteral("XREADGROUP"),
                                  QByteArrayLiteral("GROUP"),
                                  bytes(RedisSchema::kProposalsGroup),
                                  m_consumer.toUtf8(),
                                  QByteArrayLiteral("COUNT"),
                                  QByteArray::number(m_pageSize),
                                  QByteArrayLiteral("STREAMS"),
                                  bytes(RedisSchema::kProposals),
                                  fromId.toUtf8()};
    ++m_readsInFlight;
    m_connection->pipelineRaw({xread}, this,
                              [this, gen, cursor](std::vector<HiredisReply> replies, const RedisReply &error) {
                                  if (gen != m_loadGeneration)
                                      return;
                                  --m_readsInFlight;
                                  if (error.isError()) {
                                      fail(QStringLiteral("cannot read proposals: %1").arg(error.errorMessage()));
                                      return;
                                  }
                                  const redisReply *r = replies.front().get();
                                  if (r->type == REDIS_REPLY_ERROR) {
                                      const RedisReply e = RedisReply::fromHiredis(r);
                                      if (e.errorCode() == "NOGROUP" && m_polling && !m_loading) {
                                          // The group is gone (a load recreates it).
                                          if (cursor >= 0) {
                                              cursorDone(cursor);
                                              return;
                                          }
                                          m_streamDone = true;
                                          finishIfDone();
                                          return;
                                      }
                                      fail(QStringLiteral("cannot read proposals: %1").arg(e.errorMessage()));
                                      return;
                                  }
                                  processPage(r, cursor);
                              });
}

void ProposalQueue::finishIfDone()
{
    if (!m_streamDone || m_readsInFlight > 0 || m_enrichingPages > 0)
        return;
    if (m_polling && !m_loading) {
        if (!m_scanStarted) {
            startScan();
            return;
        }
        if (std::any_of(m_cursors.cbegin(), m_cursors.cend(), [](const Cursor &c) { return !c.done; }))
            return;
    }
    m_polling = false;
    if (m_loading) {
        skipScanPastOwnDeliveries();
        m_loading = false;
        m_total = m_loaded;
        emit loadFinished(int(m_items.size()), m_malformed);
        releaseRetired();
    }
}

void ProposalQueue::releaseRetired()
{
    m_retiredIndex = {};
    m_retiredItems = {};
}

QString ProposalQueue::intern(std::string_view s)
{
    if (s.empty())
        return {};
    // Rows mostly repeat recent rows' strings: a small direct-mapped memo
    // answers those without hashing the whole string.
    Recent &recent =
        m_recent[(s.size() * 31 + unsigned(uchar(s.front())) + unsigned(uchar(s.back()))) % m_recent.size()];
    if (recent.text == s)
        return recent.value;
    auto it = m_interned.find(s);
    if (it == m_interned.end()) {
        if (m_interned.size() >= 4096) // distinct system prompts, say: stop sharing rather than grow
            m_interned.clear();
        it = m_interned.emplace(std::string(s), utf16(s)).first;
    }
    recent.text.assign(s);
    recent.value = it->second;
    return it->second;
}

// Interned names repeat: most checks end at the pointer comparison.
void ProposalQueue::noteRegion(const QString &name)
{
    if (name.constData() == m_lastRegion.constData())
        return;
    m_lastRegion = name;
    if (m_regions.contains(name))
        return;
    m_regions.insert(name);
    m_newRegions.append(name);
}

// Decodes each entry straight from the hiredis reply (XREADGROUP:
// [[stream, [[id, [field, value, ...]], ...]]]) into a ProposalItem, merges
// duplicates of a key into its first item (loaded, or in a page still being
// enriched), and sends the page's enrichment.
void ProposalQueue::processPage(const redisReply *reply, int cursor)
{
    const redisReply *entries = pageEntries(reply);
    std::size_t n = entries ? entries->elements : 0;
    const bool pending = cursor >= 0;
    if (n == 0) {
        readerFinished(cursor);
        return;
    }
    bool cursorEnds = false;
    if (pending) {
        n = keepCursorSlice(cursor, entries, n, &cursorEnds);
        if (n == 0) {
            cursorDone(cursor);
            return;
        }
    }
    if (pending && n > 0)
        noteScanned(entryId(entries->element[n - 1]));
    if (!pending && m_loading) {
        m_deliveredThisLoad += qint64(n);
        if (const std::string_view last = entryId(entries->element[n - 1]); !last.empty())
            m_lastDeliveredThisLoad = utf16(last);
    }
    std::vector<std::string_view> keys; // UTF-8, of the page's items, for enrich()
    const std::shared_ptr<EnrichPage> page = decodePage(entries, n, keys);
    enrich(page, keys);
    if (cursorEnds)
        cursorDone(cursor);
    else if (!pending)
        readAhead();
}

const redisReply *ProposalQueue::pageEntries(const redisReply *reply)
{
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 && reply->element[0]->type == REDIS_REPLY_ARRAY
        && reply->element[0]->elements == 2 && reply->element[0]->element[1]->type == REDIS_REPLY_ARRAY)
        return reply->element[0]->element[1];
    return nullptr;
}

// An empty page: a cursor over pending entries is done, a read of new ones found the stream's end.
void ProposalQueue::readerFinished(int cursor)
{
    if (cursor >= 0) {
        cursorDone(cursor);
        return;
    }
    m_streamDone = true;
    finishIfDone();
}

// A cursor over pending entries keeps the entries of its slice (ids come in
// order) and asks for its next page before this one is decoded: the page's
// last id is where it starts, so Redis reads it meanwhile. Returns how many
// of the n entries are the cursor's; *ends: the cursor reads no further.
std::size_t ProposalQueue::keepCursorSlice(int cursor, const redisReply *entries, std::size_t n, bool *ends)
{
    *ends = false;
    const Cursor &c = m_cursors[size_t(cursor)];
    if (c.bounded) {
        std::size_t inSlice = 0;
        for (; inSlice < n; ++inSlice) {
            const auto ms = streamIdMs(entryId(entries->element[inSlice]));
            if (ms && *ms >= c.endMs)
                break;
        }
        *ends = inSlice < n;
        n = inSlice;
    }
    if (!*ends) {
        std::string_view last;
        for (std::size_t e = n; last.empty() && e-- > 0;)
            last = entryId(entries->element[e]);
        if (last.empty())
            *ends = true; // nowhere to go on from
        else
            readPage(utf16(last), cursor);
    }
    return n;
}

// The first page of a load reserves for the whole stream (m_total): no rehashing on the way.
void ProposalQueue::reserveForLoad()
{
    if (!m_loading)
        return;
    if (m_items.capacity() < m_total)
        m_items.reserve(m_total);
    if (m_index.capacity() < m_total) {
        m_index.reserve(m_total);
        m_slots.reserve(size_t(m_total));
        m_rowSerial.reserve(size_t(m_total));
    }
}

// The first n entries of a page: malformed ones counted and reported, each
// good one added to the page (addProposal); keys gets the new items' keys.
std::shared_ptr<ProposalQueue::EnrichPage> ProposalQueue::decodePage(const redisReply *entries, std::size_t n,
                                                                     std::vector<std::string_view> &keys)
{
    auto page = std::make_shared<EnrichPage>();
    page->generation = m_loadGeneration;
    page->entries = qint64(n);
    page->items.reserve(qsizetype(n));
    reserveForLoad();
    keys.reserve(n);
    QStringList malformed;
    QString lastId;
    std::vector<std::string_view> fieldsAndValues;
    for (std::size_t e = 0; e < n; ++e) {
        ++m_loaded;
        const redisReply *entry = entries->element[e];
        const std::string_view id = entryId(entry);
        const bool hasId = !id.empty();
        if (hasId)
            lastId = utf16(id);
        const redisReply *kv = hasId ? entry->element[1] : nullptr;
        if (!kv || kv->type != REDIS_REPLY_ARRAY) {
            ++m_malformed;
            malformed.append(lastId + QStringLiteral(": deleted or not a stream entry"));
            continue;
        }
        fieldsAndValues.clear();
        for (std::size_t f = 0; f < kv->elements; ++f)
            fieldsAndValues.push_back(view(kv->element[f]));
        std::string why;
        const auto proposal = ProposalCodec::decodeView(id, fieldsAndValues, &why);
        // What the operator sees must be what the key was made from: a proposal whose fields do not
        // give back its key is shown as malformed and never becomes an item to approve.
        if (!proposal || !proposal->keyMatches(&why)) {
            ++m_malformed;
            malformed.append(lastId + QStringLiteral(": ") + QString::fromStdString(why));
            continue;
        }
        addProposal(*page, *proposal, lastId, keys);
    }
    if (!malformed.isEmpty())
        emit malformedSkipped(malformed, m_malformed);
    return page;
}

// A decoded proposal: skipped (its key was approved or rejected), a duplicate
// joining its key's first item, or a new item of the page.
void ProposalQueue::addProposal(EnrichPage &page, const ProposalView &proposal, const QString &id,
                                std::vector<std::string_view> &keys)
{
    const QString key = utf16(proposal.key);
    if (m_skippedKeys.contains(key)) {
        ++m_skipped;
        return;
    }
    const qsizetype known = m_index.size();
    int &serial = m_index[key];
    if (m_index.size() == known) {
        const Slot &slot = m_slots[size_t(serial)];
        const ProposalItem &first = slot.page ? slot.page->items[slot.pos] : m_items[slot.pos];
        if (first.id == id || first.duplicateIds.contains(id))
            return; // read by ">" and again by the scan of the pending entries
        if (slot.page) {
            slot.page->items[slot.pos].duplicateIds.append(id);
        } else {
            m_items[slot.pos].duplicateIds.append(id);
            if (!page.updatedKeys.contains(key))
                page.updatedKeys.append(key);
        }
        return;
    }
    serial = int(m_slots.size());
    m_slots.push_back({&page, int(page.items.size())});
    page.serials.push_back(serial);
    keys.push_back(proposal.key);
    page.items.append(makeItem(proposal, id, key));
}

ProposalItem ProposalQueue::makeItem(const ProposalView &proposal, const QString &id, const QString &key)
{
    ProposalItem item;
    item.id = id;
    item.key = key;
    item.prompt = utf16(proposal.prompt);
    item.system = intern(proposal.system);
    item.ns = intern(proposal.ns);
    item.responseUtf8 = bytes(proposal.response);
    item.model = intern(proposal.model);
    item.proposedRegion = intern(proposal.region);
    item.upstreamMs = proposal.upstreamMs;
    item.promptTokens = proposal.promptTokens;
    item.completionTokens = proposal.completionTokens;
    item.tsMs = proposal.tsMs;
    if (!proposal.l1Key.empty()) {
        item.l1Key = QString::fromLatin1(proposal.l1Key.data(), qsizetype(proposal.l1Key.size()));
        item.l1Similarity = proposal.l1Similarity;
    }
    return item;
}

// One pipeline per page: EXISTS over all the page's entry keys (how many are
// approved already; nearly always 0), ZMSCORE of its keys in the rejected set,
// HMGET of its keys' four-eyes sign-offs, and per key HGETALL seen (demand per region). Only when some key is approved
// does a second pipeline ask EXISTS key by key.
void ProposalQueue::enrich(const std::shared_ptr<EnrichPage> &page, const std::vector<std::string_view> &keys)
{
    ++m_enrichingPages;
    const std::size_t n = keys.size();
    if (n == 0) {
        finishEnrich(*page, {}); // a page of duplicates or malformed entries: progress only
        return;
    }
    static const std::string entryPrefix = RedisSchema::entryKey({});
    static const std::string seenPrefix = RedisSchema::seenKey({});
    RespCommands commands;
    std::size_t keyBytes = 0;
    for (std::string_view k : keys)
        keyBytes += k.size();
    commands.reserve(3 + n, 4 * keyBytes + n * (entryPrefix.size() + seenPrefix.size() + 60) + 96);
    commands.begin(1 + n);
    commands.arg("EXISTS");
    for (std::string_view k : keys)
        commands.arg(entryPrefix, k);
    commands.begin(2 + n);
    commands.arg("ZMSCORE");
    commands.arg(RedisSchema::kRejected);
    for (std::string_view k : keys)
        commands.arg(k);
    commands.begin(2 + n);
    commands.arg("HMGET");
    commands.arg(RedisSchema::kSignOffs);
    for (std::string_view k : keys)
        commands.arg(k);
    for (std::string_view k : keys) {
        commands.begin(2);
        commands.arg("HGETALL");
        commands.arg(seenPrefix, k);
    }
    m_connection->pipelineRaw(
        std::move(commands), this, [this, page](std::vector<HiredisReply> replies, const RedisReply &error) {
            if (page->generation != m_loadGeneration)
                return;
            if (error.isError()) {
                fail(QStringLiteral("cannot read proposal demand: %1").arg(error.errorMessage()));
                return;
            }
            for (size_t i = 0; i < replies.size(); ++i) {
                // The sign-offs are a mark, not a condition: an ACL written before them (NOPERM)
                // shows no mark rather than no queue.
                if (replies[i]->type == REDIS_REPLY_ERROR && i != 2) {
                    fail(QStringLiteral("cannot read proposal demand: %1").arg(utf16(view(replies[i].get()))));
                    return;
                }
            }
            const redisReply *scores = replies[1].get();
            const redisReply *signOffs = replies[2].get();
            if (replies[0]->type != REDIS_REPLY_INTEGER || scores->type != REDIS_REPLY_ARRAY
                || qsizetype(scores->elements) != page->items.size()
                || (signOffs->type != REDIS_REPLY_ERROR
                    && (signOffs->type != REDIS_REPLY_ARRAY || qsizetype(signOffs->elements) != page->items.size()))) {
                fail(QStringLiteral("cannot read proposal demand: unexpected EXISTS, ZMSCORE or HMGET reply"));
                return;
            }
            const bool someApproved = replies[0]->integer > 0;
            page->replies = std::move(replies);
            if (!someApproved) {
                finishEnrich(*page, {});
                return;
            }
            RespCommands perKey;
            for (const ProposalItem &item : std::as_const(page->items)) {
                perKey.begin(2);
                perKey.arg("EXISTS");
                perKey.arg(entryPrefix, item.key.toStdString());
            }
            m_connection->pipelineRaw(
                std::move(perKey), this, [this, page](std::vector<HiredisReply> replies, const RedisReply &error) {
                    if (page->generation != m_loadGeneration)
                        return;
                    if (error.isError()) {
                        fail(QStringLiteral("cannot read proposal demand: %1").arg(error.errorMessage()));
                        return;
                    }
                    std::vector<bool> approved(replies.size());
                    for (size_t i = 0; i < replies.size(); ++i)
                        approved[i] = replies[i]->type == REDIS_REPLY_INTEGER && replies[i]->integer > 0;
                    finishEnrich(*page, approved);
                });
        });
}

// page.replies: EXISTS (all), ZMSCORE, HMGET sign-offs, then HGETALL per item; approved: per
// item, empty when none is.
void ProposalQueue::finishEnrich(EnrichPage &page, const std::vector<bool> &approved)
{
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const qsizetype n = page.items.size();
    QList<ProposalItem> added;
    added.reserve(n);
    for (qsizetype i = 0; i < n; ++i) {
        ProposalItem &item = page.items[i];
        const redisReply *rejected = page.replies[1]->element[i];
        const redisReply *seen = page.replies[size_t(3 + i)].get();
        const redisReply *signOff = page.replies[2]->type == REDIS_REPLY_ARRAY ? page.replies[2]->element[i] : nullptr;
        std::int64_t rejectedUntil = 0;
        const bool isRejected = rejected->type == REDIS_REPLY_STRING && Decimal::parse(view(rejected), rejectedUntil)
            && rejectedUntil > now;
        const bool decidedElsewhere = m_skippedKeys.contains(item.key); // removeKeys() while enriched
        if (isRejected || decidedElsewhere || (!approved.empty() && approved[size_t(i)])) {
            m_index.remove(item.key);
            m_slots[size_t(page.serials[size_t(i)])] = {};
            m_skippedKeys.insert(item.key);
            m_skipped += 1 + item.duplicateIds.size();
            continue;
        }
        qint64 sum = 0;
        qint64 total = -1;
        if (seen->type == REDIS_REPLY_ARRAY)
            item.regions.reserve(qsizetype(seen->elements / 2));
        for (size_t f = 0; seen->type == REDIS_REPLY_ARRAY && f + 1 < seen->elements; f += 2) {
            const std::string_view field = view(seen->element[f]);
            std::int64_t count = 0;
            if (!Decimal::parse(view(seen->element[f + 1]), count))
                continue;
            if (field == RedisSchema::kSeenTotalField) {
                total = count;
            } else {
                const QString name = intern(field);
                noteRegion(name);
                item.regions.insert(name, count);
                sum += count;
            }
        }
        if (item.regions.isEmpty() && !item.proposedRegion.isEmpty()) {
            item.regions.insert(item.proposedRegion, 1);
            noteRegion(item.proposedRegion);
            sum = 1;
        }
        item.seenTotal = total >= 0 ? total : std::max<qint64>(sum, 1);
        if (signOff && signOff->type == REDIS_REPLY_STRING) {
            if (const std::optional<SignOff> s = SignOff::decode(QByteArray(signOff->str, qsizetype(signOff->len)))) {
                item.firstApprover = s->user;
                item.firstApprovedAtMs = s->tsMs;
            }
        }
        item.updateScore();
        m_slots[size_t(page.serials[size_t(i)])] = {nullptr, int(m_items.size())};
        m_rowSerial.push_back(page.serials[size_t(i)]);
        m_items.append(item);
        added.append(std::move(item));
    }
    page.replies.clear();
    page.items.clear();
    --m_enrichingPages;
    if (!m_newRegions.isEmpty())
        emit regionsFound(std::exchange(m_newRegions, {}));
    m_settled += page.entries;
    if (!added.isEmpty() || m_loading)
        emit pageLoaded(added, m_settled, std::max(m_total, m_loaded));
    if (!page.updatedKeys.isEmpty()) {
        QList<ProposalItem> changed;
        for (const QString &k : std::as_const(page.updatedKeys)) {
            if (const Slot *slot = loadedSlot(k))
                changed.append(m_items[slot->pos]);
        }
        if (!changed.isEmpty())
            emit itemsUpdated(changed);
    }
    finishIfDone();
}

QList<ProposalItem> ProposalQueue::rankedItems() const
{
    QList<ProposalItem> out = m_items;
    std::stable_sort(out.begin(), out.end(), [](const ProposalItem &a, const ProposalItem &b) {
        if (a.savingsScore != b.savingsScore)
            return a.savingsScore > b.savingsScore;
        return a.tsMs < b.tsMs;
    });
    return out;
}

std::optional<ProposalItem> ProposalQueue::item(const QString &key) const
{
    if (const Slot *slot = loadedSlot(key))
        return m_items[slot->pos];
    return std::nullopt;
}

const ProposalQueue::Slot *ProposalQueue::loadedSlot(const QString &key) const
{
    const auto it = m_index.constFind(key);
    if (it == m_index.constEnd())
        return nullptr;
    const Slot &slot = m_slots[size_t(*it)];
    return !slot.page && slot.pos >= 0 ? &slot : nullptr;
}

void ProposalQueue::markSignedOff(const QString &key, const QString &user, qint64 tsMs)
{
    const Slot *slot = loadedSlot(key);
    if (!slot)
        return;
    ProposalItem &item = m_items[slot->pos];
    item.firstApprover = user;
    item.firstApprovedAtMs = tsMs;
    emit itemsUpdated({item});
}

void ProposalQueue::removeKey(const QString &key)
{
    const Slot *slot = loadedSlot(key);
    if (!slot)
        return;
    const int pos = slot->pos;
    const int serial = m_index.take(key);
    m_slots[size_t(serial)] = {};
    m_items.removeAt(pos);
    m_rowSerial.erase(m_rowSerial.begin() + pos);
    for (int i = pos; i < m_items.size(); ++i)
        m_slots[size_t(m_rowSerial[size_t(i)])].pos = i;
    m_skippedKeys.insert(key);
    emit itemsRemoved({key});
}

void ProposalQueue::removeKeys(const QStringList &keys)
{
    QStringList removed;
    std::vector<bool> drop;
    for (const QString &key : keys) {
        m_skippedKeys.insert(key);
        const Slot *slot = loadedSlot(key);
        if (!slot)
            continue;
        if (drop.empty())
            drop.resize(size_t(m_items.size()));
        drop[size_t(slot->pos)] = true;
        m_slots[size_t(m_index.take(key))] = {};
        removed.append(key);
    }
    if (removed.isEmpty())
        return;
    qsizetype out = 0;
    for (qsizetype i = 0; i < m_items.size(); ++i) {
        if (drop[size_t(i)])
            continue;
        if (out != i) {
            m_items[out] = std::move(m_items[i]);
            m_rowSerial[size_t(out)] = m_rowSerial[size_t(i)];
        }
        m_slots[size_t(m_rowSerial[size_t(out)])].pos = int(out);
        ++out;
    }
    m_items.resize(out);
    m_rowSerial.resize(size_t(out));
    emit itemsRemoved(removed);
}

} // namespace l0l3

#pragma once

#include <QHash>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QSet>
#include <QString>
#include <QStringList>
#include <QTimer>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/common/stringhash.h"
#include "core/control/proposalitem.h"
#include "core/control/redisconnection.h"

namespace l0l3 {

struct ProposalView;

// Reads the proposals stream through the consumer group "console" and keeps
// the ranked list of what the operator should look at.
//
// Several consoles (and l0l3-ctl) share the group under one consumer name, so
// the group's pending entries list is the queue every console shows: an entry
// is delivered once (XREADGROUP >) into that list and stays there until a
// decision XACKs it. Each console therefore sees every open proposal: a poll
// first moves new entries into the list (XREADGROUP >, whichever console does
// it), then reads the list past the newest pending id it has read
// (XREADGROUP ... ID, the scan): every entry another console moved there since
// has a larger id than the scan's previous position, because ">" delivers in
// id order. An entry read twice (by ">" and by the scan) is merged once. Keys
// decided elsewhere leave through removeKeys() (the console follows the audit
// stream).
//
// Gateways propose into an inbox list; before each load and poll the queue
// moves what is there into the stream (FCALL l0l3_drain, drainInbox), so
// every reader of the stream sees only what the console appended.
//
// load(): XGROUP CREATE console 0 MKSTREAM (BUSYGROUP ignored), then pages of
// pageSize entries: first this consumer's pending entries (XREADGROUP ... from
// an id), then new ones (XREADGROUP ... >). Pending entries are read by up to
// kReadAhead cursors at once, each over a slice of the pending ids' time range
// (the XPENDING summary's first and last id): a cursor reads page after page
// from its start and stops at the first entry past its slice, which the next
// cursor reads. Three reads of new entries are kept in flight. Each page is
// decoded (malformed entries are skipped and counted, never fatal), merged by
// key (later entries of a key read become duplicateIds of the one read first)
// and enriched with one pipeline: EXISTS over the page's entry keys (keys
// already approved are skipped), ZMSCORE rejected (keys rejected until later
// are skipped) and HGETALL seen per key (demand per region). Redis reads the
// next pages while this thread decodes one, and the owning thread's event
// loop stays responsive with 100k proposals.
//
// Thread affinity: lives on the thread of its RedisConnection (not owned).
// Signals carry value types and may be connected across threads (queued).
class ProposalQueue : public QObject
{
    Q_OBJECT
public:
    explicit ProposalQueue(RedisConnection *connection, QObject *parent = nullptr);
    ~ProposalQueue() override;

    void setPageSize(int n) { m_pageSize = n; }
    int pageSize() const { return m_pageSize; }
    // Consumer name inside the group; every console uses the same one by
    // default so that pending proposals are visible from any console.
    void setConsumerName(const QString &name) { m_consumer = name; }
    QString consumerName() const { return m_consumer; }

    // (Re)loads everything from scratch: cleared() if items were loaded, then
    // pages; loadFinished() or loadFailed() ends it.
    void load();
    // Fetches new proposals (XREADGROUP >), then the pending entries other
    // consoles moved into the group since the last scan; no-op while a load runs.
    void poll();
    // poll() every intervalMs (0 stops).
    void setPollInterval(int intervalMs);
    bool isLoading() const { return m_loading; }

    // Ranked snapshot, highest savingsScore first.
    QList<ProposalItem> rankedItems() const;
    std::optional<ProposalItem> item(const QString &key) const;
    int count() const { return int(m_items.size()); }
    qint64 malformedCount() const { return m_malformed; }
    qint64 skippedCount() const { return m_skipped; }
    // Inbox elements l0l3_drain refused (malformed), since this queue was made;
    // each is also counted in malformedCount() of the load or poll that met it.
    qint64 inboxDroppedCount() const { return m_inboxDropped; }

    // Forget a key (approved/rejected elsewhere); emits itemsRemoved.
    void removeKey(const QString &key);
    // A four-eyes sign-off of a loaded key (an audit record "first-approval", from any console):
    // the item is waiting for second approval by someone else than user; emits itemsUpdated.
    void markSignedOff(const QString &key, const QString &user, qint64 tsMs);
    // The same for many keys: one pass, one itemsRemoved with those that were loaded. Keys
    // not loaded yet (in a page still being enriched, or read later) are skipped when they come.
    void removeKeys(const QStringList &keys);
    // The newest pending id the scan of the group's pending entries has read ("0": none).
    QString scanPosition() const { return m_scanFrom; }

signals:
    // New items of one page (already merged/enriched), and progress.
    void pageLoaded(const QList<l0l3::ProposalItem> &items, qint64 loaded, qint64 total);
    // Existing items that changed (a duplicate merged in, demand refreshed).
    void itemsUpdated(const QList<l0l3::ProposalItem> &items);
    void itemsRemoved(const QStringList &keys);
    // load() dropped every item (a mirror of the queue resets).
    void cleared();
    // Region names not seen before (in demand counters or as the proposing
    // region), once each per queue, for a region filter.
    void regionsFound(const QStringList &names);
    // Stream entries that could not be decoded (id + reason), per page, and
    // inbox elements dropped ("inbox: " + reason, escaped), per drain.
    void malformedSkipped(const QStringList &idsAndReasons, qint64 malformedTotal);
    // The inbox could not be drained (escaped Redis error, once per cause):
    // new proposals wait there and gateways are refused once it is full.
    void inboxDrainFailed(const QString &message);
    void loadFinished(int itemCount, qint64 malformedTotal);
    void loadFailed(const QString &message);

private:
    struct EnrichPage
    {
        QList<ProposalItem> items;
        QList<QString> updatedKeys; // loaded items this page added duplicates to
        quint64 generation = 0;
        qint64 entries = 0;       // stream entries read in this page, valid or not
        std::vector<int> serials; // of items
        std::vector<HiredisReply> replies;
    };
    static constexpr int kReadAhead = 3;
    static constexpr int kDrainBatch = 200;
    static constexpr int kDrainRounds = 50;

    void ensureGroup(std::function<void()> next);
    void drainInbox(std::function<void()> next, int roundsLeft = kDrainRounds);
    void drainFailed(const QString &message);
    void noteDropped(const RedisReply &dropped);
    void fetchTotal();
    void resetPaging(bool keepLoaded = true);
    void readAhead();
    // cursor: index into m_cursors for a read of pending entries, -1 for new ones.
    void readPage(const QString &fromId, int cursor = -1);
    void processPage(const redisReply *reply, int cursor);
    // The steps of processPage.
    static const redisReply *pageEntries(const redisReply *reply);
    void readerFinished(int cursor);
    std::size_t keepCursorSlice(int cursor, const redisReply *entries, std::size_t n, bool *ends);
    void reserveForLoad();
    std::shared_ptr<EnrichPage> decodePage(const redisReply *entries, std::size_t n,
                                           std::vector<std::string_view> &keys);
    void addProposal(EnrichPage &page, const ProposalView &proposal, const QString &id,
                     std::vector<std::string_view> &keys);
    ProposalItem makeItem(const ProposalView &proposal, const QString &id, const QString &key);
    void readPendingSummary();
    // XPENDING summary (count, first id, last id) -> the cursors over the pending entries.
    void startPendingReads(qint64 count, std::string_view firstId, std::string_view lastId);
    // A cursor reached its slice's end (or the last pending entry); after the last, the new entries.
    void cursorDone(int cursor);
    // keys: the page's items' keys (views into the reply being processed).
    void enrich(const std::shared_ptr<EnrichPage> &page, const std::vector<std::string_view> &keys);
    void finishEnrich(EnrichPage &page, const std::vector<bool> &approved);
    void finishIfDone();
    // After a poll's ">" reads: one cursor over the pending entries past m_scanFrom.
    void startScan();
    void noteScanned(std::string_view id);
    void fail(const QString &message);
    QString intern(std::string_view s);
    void noteRegion(const QString &name);

    QPointer<RedisConnection> m_connection;
    int m_pageSize = 1000;
    QString m_consumer = QStringLiteral("l0l3-console");
    bool m_loading = false;
    bool m_polling = false;
    quint64 m_loadGeneration = 0;
    qint64 m_loaded = 0; // stream entries read (valid or not)
    qint64 m_total = 0;  // estimate: group pending + lag, or XLEN
    qint64 m_malformed = 0;
    qint64 m_skipped = 0;
    qint64 m_inboxDropped = 0;
    QString m_lastDrainError;
    QList<ProposalItem> m_items;
    // The previous load's items and index, freed once this load has finished (or failed): freeing
    // 100k items at the start held up the first pages while Redis waited.
    QList<ProposalItem> m_retiredItems;
    QHash<QString, int> m_retiredIndex;
    void releaseRetired();
    // Each key read gets a serial (m_index, one hash lookup per entry); its
    // slot says where the item is: at pos in m_items, or (page set) at pos in
    // a page whose enrichment is not answered yet, which later duplicates
    // join; pos -1: skipped or removed.
    struct Slot
    {
        EnrichPage *page = nullptr;
        int pos = -1;
    };
    QHash<QString, int> m_index;
    std::vector<Slot> m_slots;
    std::vector<int> m_rowSerial; // serial of each row of m_items
    const Slot *loadedSlot(const QString &key) const;
    QSet<QString> m_skippedKeys; // approved or rejected keys seen in the stream
    // Short strings most proposals repeat (regions, models, namespaces, system
    // prompts), shared rather than converted for each one.
    std::unordered_map<std::string, QString, StringHash, std::equal_to<>> m_interned;
    struct Recent
    {
        std::string text;
        QString value;
    };
    std::array<Recent, 16> m_recent;
    QSet<QString> m_regions;
    QString m_lastRegion;
    QStringList m_newRegions;
    QTimer m_pollTimer;
    // Paging state of the load or poll in progress.
    bool m_newPhase = false;    // reading new entries (">"), pending ones are done
    bool m_streamDone = false;  // a ">" read came back empty
    bool m_scanStarted = false; // this poll's scan of the pending entries was sent
    QString m_scanFrom = QStringLiteral("0");
    // A load that delivered (">") everything the group delivered meanwhile
    // (XINFO GROUPS entries-read before and after) starts the scans past it;
    // otherwise the first scan reads those entries again (and merges them).
    qint64 m_entriesReadAtLoad = -1;
    qint64 m_deliveredThisLoad = 0;
    QString m_lastDeliveredThisLoad;
    void skipScanPastOwnDeliveries();
    int m_readsInFlight = 0;
    struct Cursor
    {
        std::uint64_t endMs = 0; // the slice ends before this millisecond of the stream ids
        bool bounded = false;    // false: the last slice, to the end of the pending entries
        bool done = false;
    };
    std::vector<Cursor> m_cursors;
    int m_enrichingPages = 0;
    qint64 m_settled = 0; // entries of pages fully processed (the progress shown)
};

} // namespace l0l3

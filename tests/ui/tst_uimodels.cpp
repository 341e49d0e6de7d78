#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QTest>

#include <algorithm>

#include "tests/support/timescale.h"
#include "ui/audit/audittablemodel.h"
#include "ui/entries/entrytablemodel.h"
#include "ui/proposals/proposalfiltermodel.h"
#include "ui/proposals/proposaltablemodel.h"

using namespace l0l3;

namespace {

ProposalItem item(const QString &key, qint64 seen, double savings, qint64 ts, const QString &region,
                  const QString &prompt = QStringLiteral("prompt"))
{
    ProposalItem p;
    p.id = QStringLiteral("1-") + key;
    p.key = key;
    p.prompt = prompt;
    p.responseUtf8 = (QStringLiteral("answer for ") + prompt).toUtf8();
    p.seenTotal = seen;
    p.savingsScore = savings;
    p.tsMs = ts;
    p.proposedRegion = region;
    p.regions.insert(region, seen);
    return p;
}

QStringList keysInOrder(const QAbstractItemModel &m)
{
    QStringList keys;
    for (int r = 0; r < m.rowCount(); ++r)
        keys.append(m.index(r, 0).data(ProposalTableModel::KeyRole).toString());
    return keys;
}

} // namespace

class TestUiModels : public QObject
{
    Q_OBJECT
private slots:
    void proposalModelPagesAndUpdates()
    {
        ProposalTableModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
        QList<ProposalItem> page;
        for (int i = 0; i < 50; ++i)
            page.append(item(QStringLiteral("k%1").arg(i), i, i * 1.5, 1000 + i, QStringLiteral("nyc")));
        model.addItems(page);
        QCOMPARE(inserted.size(), 1); // one beginInsertRows per page
        QCOMPARE(model.rowCount(), 50);

        // A page repeating a key updates it in place rather than adding a row.
        model.addItems({item(QStringLiteral("k3"), 99, 500, 1003, QStringLiteral("eu")),
                        item(QStringLiteral("new"), 1, 1, 1, QStringLiteral("eu"))});
        QCOMPARE(inserted.size(), 2);
        QCOMPARE(model.rowCount(), 51);
        QCOMPARE(model.itemAt(model.rowOfKey(QStringLiteral("k3"))).seenTotal, 99);

        model.setPending(QStringLiteral("k4"), true);
        QVERIFY(model.index(model.rowOfKey(QStringLiteral("k4")), 0).data(ProposalTableModel::PendingRole).toBool());

        // Removing scattered keys keeps the key -> row index right.
        model.removeKeys({QStringLiteral("k0"), QStringLiteral("k1"), QStringLiteral("k10"), QStringLiteral("k49"),
                          QStringLiteral("absent")});
        QCOMPARE(model.rowCount(), 47);
        for (int r = 0; r < model.rowCount(); ++r)
            QCOMPARE(model.rowOfKey(model.itemAt(r).key), r);
        QCOMPARE(model.rowOfKey(QStringLiteral("k10")), -1);
        model.clear();
        QCOMPARE(model.rowCount(), 0);
    }

    // Many removals (past the point where the key -> row table is renumbered), interleaved
    // with new rows, updates of old and new rows and re-added keys: every key maps to its row.
    void proposalModelRowsStayRightThroughRemovals()
    {
        ProposalTableModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QList<ProposalItem> page;
        for (int i = 0; i < 1200; ++i)
            page.append(item(QStringLiteral("k%1").arg(i), 1, i, 1000 + i, QStringLiteral("nyc")));
        model.addItems(page);
        const auto consistent = [&model] {
            for (int r = 0; r < model.rowCount(); ++r) {
                if (model.rowOfKey(model.itemAt(r).key) != r)
                    return false;
            }
            return true;
        };
        int added = 0;
        for (int round = 0; round < 24; ++round) { // 600 removals: the table is renumbered on the way
            // Scattered, duplicated and absent keys; a run of neighbours.
            QStringList gone;
            for (int j = 0; j < 20; ++j)
                gone << model.itemAt((j * 37 + round * 11) % model.rowCount()).key;
            gone << gone.first() << QStringLiteral("absent");
            const int from = model.rowCount() / 2;
            for (int r = from; r < std::min(model.rowCount(), from + 5); ++r)
                gone << model.itemAt(r).key;
            model.removeKeys(gone);
            for (const QString &k : std::as_const(gone))
                QCOMPARE(model.rowOfKey(k), -1);
            QVERIFY2(consistent(), qPrintable(QStringLiteral("after removals of round %1").arg(round)));
            // New rows, an update of an old and of a new row, a removed key back.
            model.addItems({item(QStringLiteral("n%1").arg(added), 1, 1, 1, QStringLiteral("eu")),
                            item(QStringLiteral("n%1").arg(added + 1), 1, 1, 1, QStringLiteral("eu")),
                            item(gone.at(3), 5, 5, 5, QStringLiteral("eu"))});
            added += 2;
            model.updateItems({item(QStringLiteral("n%1").arg(added - 1), 7, 7, 7, QStringLiteral("eu")),
                               item(model.itemAt(0).key, 8, 8, 8, QStringLiteral("eu"))});
            QCOMPARE(model.itemAt(model.rowOfKey(QStringLiteral("n%1").arg(added - 1))).seenTotal, 7);
            QCOMPARE(model.itemAt(0).seenTotal, 8);
            QCOMPARE(model.itemAt(model.rowOfKey(gone.at(3))).seenTotal, 5);
            model.setPending(QStringLiteral("n%1").arg(added - 2), true);
            QVERIFY(model.index(model.rowOfKey(QStringLiteral("n%1").arg(added - 2)), 0)
                        .data(ProposalTableModel::PendingRole)
                        .toBool());
            QVERIFY2(consistent(), qPrintable(QStringLiteral("after additions of round %1").arg(round)));
        }
        QVERIFY(model.rowCount() < 1200 - 512);
    }

    // addPages moves the items of a page only the model holds; a page the caller still holds
    // is copied and stays as it was.
    void proposalAddPagesMovesOnlyUnsharedPages()
    {
        ProposalTableModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QList<ProposalItem> kept;
        for (int i = 0; i < 3; ++i)
            kept.append(
                item(QStringLiteral("s%1").arg(i), 1, i, i, QStringLiteral("nyc"), QStringLiteral("shared %1").arg(i)));
        const QList<QList<ProposalItem>> held{kept};
        model.addPages(held);
        QCOMPARE(held.front().size(), 3);
        for (int i = 0; i < 3; ++i) {
            QCOMPARE(held.front()[i].key, QStringLiteral("s%1").arg(i));
            QCOMPARE(held.front()[i].prompt, QStringLiteral("shared %1").arg(i));
            QCOMPARE(held.front()[i].responseText(), QStringLiteral("answer for shared %1").arg(i));
        }

        QList<QList<ProposalItem>> owned(2);
        for (int i = 0; i < 4; ++i)
            owned[i % 2].append(item(QStringLiteral("o%1").arg(i), 2, 10 + i, i, QStringLiteral("eu"),
                                     QStringLiteral("owned %1").arg(i)));
        model.addPages(std::move(owned));
        QCOMPARE(model.rowCount(), 7);
        for (int i = 0; i < 4; ++i) {
            const int row = model.rowOfKey(QStringLiteral("o%1").arg(i));
            QVERIFY(row >= 3);
            QCOMPARE(model.itemAt(row).prompt, QStringLiteral("owned %1").arg(i));
            QCOMPARE(model.index(row, ProposalTableModel::Savings).data(ProposalTableModel::SortRole).toDouble(),
                     10.0 + i);
        }
        for (int i = 0; i < 3; ++i)
            QCOMPARE(model.itemAt(model.rowOfKey(QStringLiteral("s%1").arg(i))).responseText(),
                     QStringLiteral("answer for shared %1").arg(i));
    }

    // A reload's clear(true) empties the table at once and frees the old rows later, in slices;
    // a second deferred clear before that frees the older generation, and the new rows are unaffected.
    void proposalClearDefersRelease()
    {
        ProposalTableModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QList<ProposalItem> page;
        for (int i = 0; i < 10000; ++i)
            page.append(item(QStringLiteral("k%1").arg(i), 1, i, i, QStringLiteral("nyc")));
        model.addItems(page);
        const QString shared = page.first().key; // shared with the model's copy until it is freed
        page.clear();
        QVERIFY(!shared.isDetached());
        QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
        model.clear(true);
        QCOMPARE(reset.size(), 1);
        QCOMPARE(model.rowCount(), 0);
        QCOMPARE(model.rowOfKey(shared), -1);
        QVERIFY(model.hasRetired());
        QVERIFY(!shared.isDetached()); // not freed yet

        model.addItems({item(QStringLiteral("fresh"), 2, 5, 5, QStringLiteral("eu"))});
        model.releaseRetired();
        model.releaseRetired(); // once scheduled, a second call adds nothing
        QTRY_VERIFY_WITH_TIMEOUT(!model.hasRetired(), l0l3::test::TimeScale::ms(5000));
        QVERIFY(shared.isDetached()); // the last reference is ours: the old rows are gone
        QCOMPARE(model.rowCount(), 1);
        QCOMPARE(model.rowOfKey(QStringLiteral("fresh")), 0);

        model.clear(true);
        model.addItems({item(QStringLiteral("again"), 1, 1, 1, QStringLiteral("eu"))});
        model.clear(true); // the first retired generation goes now, this one later
        QVERIFY(model.hasRetired());
        model.releaseRetired();
        QTRY_VERIFY_WITH_TIMEOUT(!model.hasRetired(), l0l3::test::TimeScale::ms(5000));
        QCOMPARE(model.rowCount(), 0);
    }

    void proposalSortUsesRawValues_data()
    {
        QTest::addColumn<int>("column");
        QTest::addColumn<int>("order");
        QTest::addColumn<QStringList>("expected");
        // Display strings would sort "9.0" after "10.5" and "10 s" before "9 s".
        QTest::newRow("savings desc") << int(ProposalTableModel::Savings) << int(Qt::DescendingOrder)
                                      << QStringList{QStringLiteral("b"), QStringLiteral("a"), QStringLiteral("c")};
        QTest::newRow("seen asc") << int(ProposalTableModel::Seen) << int(Qt::AscendingOrder)
                                  << QStringList{QStringLiteral("c"), QStringLiteral("a"), QStringLiteral("b")};
        QTest::newRow("proposed asc (oldest first)")
            << int(ProposalTableModel::Proposed) << int(Qt::AscendingOrder)
            << QStringList{QStringLiteral("b"), QStringLiteral("c"), QStringLiteral("a")};
        QTest::newRow("region asc") << int(ProposalTableModel::Regions) << int(Qt::AscendingOrder)
                                    << QStringList{QStringLiteral("c"), QStringLiteral("a"), QStringLiteral("b")};
    }
    void proposalSortUsesRawValues()
    {
        QFETCH(int, column);
        QFETCH(int, order);
        QFETCH(QStringList, expected);
        ProposalTableModel model;
        model.setNowMs(1'000'000);
        ProposalFilterModel proxy;
        proxy.setSourceModel(&model);
        QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.addItems({item(QStringLiteral("a"), 9, 9.0, 990'000, QStringLiteral("nyc")),
                        item(QStringLiteral("b"), 10, 10.5, 900'000, QStringLiteral("tokyo")),
                        item(QStringLiteral("c"), 2, 2.0, 980'000, QStringLiteral("eu"))});
        proxy.sort(column, Qt::SortOrder(order));
        QCOMPARE(keysInOrder(proxy), expected);
    }

    // Answers are kept as UTF-8 and compared by their first 64 bytes where those decide: the order
    // must be QString::compare's, case-insensitive, on the whole converted texts.
    void proposalAnswerOrderIsQStringOrder()
    {
        const QString shared = QStringLiteral("Öffnen Sie die Konsole, wählen Sie Einstellungen und dann Abrechnung; ");
        QStringList answers{QStringLiteral("b"), QStringLiteral("B"), QStringLiteral("a"), QString(),
                            QStringLiteral("ä"), QStringLiteral("Ä x"), QStringLiteral("z"), shared, shared + u'a',
                            shared + u'B', shared + u'b', shared + QStringLiteral("ÄÖ"), shared + QStringLiteral("äo"),
                            shared.toUpper() + u'c',
                            // 63 ASCII bytes then a two-byte character across the 64-byte cut, then a difference.
                            QString(63, u'x') + QStringLiteral("é1"), QString(63, u'X') + QStringLiteral("É2"),
                            QString(63, u'x') + QStringLiteral("\U0001F600a"),
                            QString(62, u'x') + QStringLiteral("\U0001F600b"), QString(64, u'y'), QString(65, u'y'),
                            // A byte order mark is a character like any other to QString::fromUtf8.
                            QStringLiteral("\uFEFFa")};
        for (const QString &a : std::as_const(answers)) {
            for (const QString &b : std::as_const(answers)) {
                const int expected = QString::compare(a, b, Qt::CaseInsensitive);
                const int got = ProposalTableModel::compareUtf8CaseInsensitive(a.toUtf8(), b.toUtf8());
                QVERIFY2((expected < 0) == (got < 0) && (expected > 0) == (got > 0),
                         qPrintable(
                             QStringLiteral("\"%1\" vs \"%2\": %3, expected %4").arg(a, b).arg(got).arg(expected)));
            }
        }
        // Bytes that are not UTF-8 compare as QString::fromUtf8 makes them.
        const QByteArray broken = QByteArray(70, '\x80') + "a";
        const QByteArray brokenToo = QByteArray(70, '\x80') + "b";
        QVERIFY(ProposalTableModel::compareUtf8CaseInsensitive(broken, brokenToo) < 0);

        // In the table: sorted by answer, shown and found by it.
        ProposalTableModel model;
        ProposalFilterModel proxy;
        proxy.setSourceModel(&model);
        QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QList<ProposalItem> items;
        for (int i = 0; i < 3; ++i)
            items.append(item(QStringLiteral("k%1").arg(i), 1, 1, 1, QStringLiteral("eu")));
        items[0].responseUtf8 = (shared + u'c').toUtf8();
        items[1].responseUtf8 = (shared.toUpper() + u'A').toUtf8();
        items[2].responseUtf8 = QStringLiteral("Zürich\nzweite Zeile").toUtf8();
        model.addItems(items);
        proxy.sort(ProposalTableModel::Answer, Qt::AscendingOrder);
        // Code unit order, as QString::compare (not the locale's): "z" (U+007A) before "ö" (U+00F6).
        QCOMPARE(keysInOrder(proxy), (QStringList{QStringLiteral("k2"), QStringLiteral("k1"), QStringLiteral("k0")}));
        QCOMPARE(proxy.index(0, ProposalTableModel::Answer).data().toString(), QStringLiteral("Zürich zweite Zeile"));
        proxy.setSearchText(QStringLiteral("zürich"));
        QCOMPARE(keysInOrder(proxy), QStringList{QStringLiteral("k2")});
    }

    void proposalFilter()
    {
        ProposalTableModel model;
        ProposalFilterModel proxy;
        proxy.setSourceModel(&model);
        QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.addItems(
            {item(QStringLiteral("a"), 1, 1, 1, QStringLiteral("nyc"), QStringLiteral("How do I reset my password?")),
             item(QStringLiteral("b"), 1, 2, 1, QStringLiteral("tokyo"), QStringLiteral("Where is my order?")),
             item(QStringLiteral("c"), 1, 3, 1, QStringLiteral("eu"), QStringLiteral("Cancel my ORDER please"))});
        proxy.setSearchText(QStringLiteral("order"));
        QCOMPARE(proxy.rowCount(), 2);
        proxy.setRegion(QStringLiteral("eu"));
        QCOMPARE(proxy.rowCount(), 1);
        QCOMPARE(proxy.index(0, 0).data(ProposalTableModel::KeyRole).toString(), QStringLiteral("c"));
        proxy.setSearchText({});
        proxy.setRegion({});
        QCOMPARE(proxy.rowCount(), 3);
        // Rows added while filtered show up once they match.
        proxy.setSearchText(QStringLiteral("refund"));
        QCOMPARE(proxy.rowCount(), 0);
        model.addItems({item(QStringLiteral("d"), 1, 1, 1, QStringLiteral("nyc"), QStringLiteral("refund status"))});
        QCOMPARE(proxy.rowCount(), 1);
    }

    void entryModelPaging()
    {
        EntryTableModel model;
        QSortFilterProxyModel proxy;
        proxy.setSourceModel(&model);
        proxy.setSortRole(EntryTableModel::SortRole);
        QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSignalSpy fetch(&model, &EntryTableModel::fetchMoreRequested);
        QVERIFY(!model.canFetchMore({}));
        QList<EntryItem> page;
        for (int i = 0; i < 3; ++i) {
            EntryItem e;
            e.entry.key = QStringLiteral("key%1").arg(i).toStdString();
            e.entry.response = "r";
            e.entry.version = 3 - i;
            e.ttlRemainingSeconds = i == 0 ? -1 : 100 * i;
            page.append(e);
        }
        model.appendPage(page, true);
        QCOMPARE(model.rowCount(), 3);
        // The model tester itself may already have asked for the next page.
        if (model.canFetchMore({}))
            model.fetchMore({});
        QCOMPARE(fetch.size(), 1);
        QVERIFY(!model.canFetchMore({})); // one request at a time
        model.fetchMore({});
        QCOMPARE(fetch.size(), 1);
        model.appendPage({}, false);
        QVERIFY(!model.canFetchMore({}));
        proxy.sort(EntryTableModel::Ttl, Qt::AscendingOrder);
        QCOMPARE(proxy.index(2, EntryTableModel::Key).data().toString(), QStringLiteral("key0")); // no expiry last
        QCOMPARE(proxy.index(2, EntryTableModel::Ttl).data().toString(), QStringLiteral("no expiry"));
        model.removeKey(QStringLiteral("key1"));
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.rowOfKey(QStringLiteral("key1")), -1);
        model.clear();
        QCOMPARE(model.rowCount(), 0);
    }

    void auditModelPaging()
    {
        AuditTableModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSignalSpy fetch(&model, &AuditTableModel::fetchMoreRequested);
        AuditRecord r;
        r.action = "approve";
        r.key = "k";
        r.actor = "alice";
        r.version = 2;
        r.prevVersion = 1;
        model.appendPage({r, r}, true);
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.index(0, AuditTableModel::Actor).data().toString(), QStringLiteral("alice"));
        QCOMPARE(model.index(0, AuditTableModel::PrevVersion).data().toString(), QStringLiteral("1"));
        if (model.canFetchMore({}))
            model.fetchMore({});
        QCOMPARE(fetch.size(), 1);
        QVERIFY(!model.canFetchMore({}));
        model.appendPage({r}, false);
        QCOMPARE(model.rowCount(), 3);
        QVERIFY(!model.canFetchMore({}));
    }
};

QTEST_MAIN(TestUiModels)
#include "tst_uimodels.moc"

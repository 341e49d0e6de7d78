#include "ui/common/recordview.h"

#include <QAction>
#include <QHeaderView>
#include <QPushButton>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

namespace l0l3 {

void setUpRecordView(QTableView *view, QAbstractItemView::SelectionMode mode)
{
    view->setSelectionBehavior(QAbstractItemView::SelectRows);
    view->setSelectionMode(mode);
    view->setEditTriggers(QAbstractItemView::NoEditTriggers);
    view->verticalHeader()->hide();
    view->horizontalHeader()->setStretchLastSection(true);
}

QList<QObject *> RecordCommand::controls() const
{
    return {action, button};
}

RecordCommand addRecordCommand(QWidget *page, QAbstractItemView *view, const QString &text,
                               const QList<QKeySequence> &keys, const QString &tip, const std::function<void()> &slot)
{
    auto *a = new QAction(text, page);
    a->setShortcuts(keys);
    a->setShortcutContext(Qt::WidgetShortcut);
    a->setToolTip(QStringLiteral("%1 (%2)").arg(tip, keys.first().toString(QKeySequence::NativeText)));
    QObject::connect(a, &QAction::triggered, page, slot);
    view->addAction(a);
    auto *button = new QPushButton(text, page);
    button->setToolTip(a->toolTip());
    QObject::connect(button, &QPushButton::clicked, page, slot);
    return {a, button};
}

void layOutRecordPage(QWidget *page, QLayout *top, QWidget *view, QWidget *detail)
{
    auto *splitter = new QSplitter(Qt::Vertical, page);
    splitter->addWidget(view);
    splitter->addWidget(detail);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 1);
    auto *layout = new QVBoxLayout(page);
    layout->addLayout(top);
    layout->addWidget(splitter, 1);
}

} // namespace l0l3

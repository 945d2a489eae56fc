-- Every bizmsgmenu link shown (LIAISON_WECHAT_MSGMENU) carries its own id (msgmenuid): the row
-- id here, never reused (AUTOINCREMENT: SQLite does not hand out a deleted row's id again),
-- with the action and label it was shown with. A tap in an older message resolves to exactly
-- the action of its own card, never to the latest answer's option of the same number or label
-- (that acted on another wish). Kept for the last links of each person (storage/wechat.py
-- MENU_PER_PERSON) and 48 hours (wechat/retention.py MENU_KEPT); a tap whose id is gone is a
-- stale press.
CREATE TABLE wechat_menu (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    openid TEXT NOT NULL,
    action TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX wechat_menu_person ON wechat_menu (openid, id);
CREATE INDEX wechat_menu_created ON wechat_menu (created_at);

-- The label of each numbered option (wechat/render.py): a bizmsgmenu tap may come back with
-- bizmsgmenuid 0 or none, carrying only the label as its text; the webhook then matches the
-- label (WeChatRepo.option_by_label). Empty for options stored before this migration.
ALTER TABLE wechat_options ADD COLUMN label TEXT NOT NULL DEFAULT '';

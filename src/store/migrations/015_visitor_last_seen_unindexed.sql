-- Less written per page view (see docs/storage.md, "What a page view
-- writes"): every page view moves the visitor's last_seen, and with it an
-- entry of this index. Its two readers find their rows another way: the
-- live view's rebuild through the recent events (event_site_ts), the
-- retention pass in row-id order with a cursor.

DROP INDEX visitor_last_seen;

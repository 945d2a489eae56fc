-- Scale (issue 12): what the screens, the digest and the broadcast audience read is found
-- through an index, so its cost follows what is shown, not the deployment's whole history.
-- A station's wishes by creation (reports, exports, the digest's "new") and by resolution
-- (the digest's "resolved").
CREATE INDEX wishes_station_created ON wishes (station_id, created_at);
CREATE INDEX wishes_station_resolved ON wishes (station_id, resolved_at);
-- Everyone who left a wish at a station (a broadcast's audience).
CREATE INDEX wishes_station_resident ON wishes (station_id, resident_id);
-- Resolved wishes by resolution time (rating reminders, 回访 candidates).
CREATE INDEX wishes_status_resolved ON wishes (status, resolved_at);
-- A wish's first response (reports' "response time"), read from the index alone.
CREATE INDEX wish_events_response ON wish_events (wish_id, action, role, at);

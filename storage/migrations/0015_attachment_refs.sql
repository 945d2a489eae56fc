-- Which wishes have a photo file (WebRepo.wishes_with_file, on every /u/<id>.jpg request by
-- someone other than the uploader; PurgeRepo.still_used at a purge): an index lookup, not a scan
-- of every wish's attachments.
CREATE INDEX wish_attachments_ref ON wish_attachments (file_ref);

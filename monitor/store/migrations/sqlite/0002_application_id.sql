-- 2: mark the file as ours (databases made before this migration have application_id 0)
PRAGMA application_id = 1313689422;  -- 0x4E4D4F4E, the ASCII of "NMON"

"""The device side of sync: TUF client and bundle apply, mTLS hub client, enrollment, outbox
upload, the daemon. It never imports the hub side (madoguchi.sync.hub)."""

wrk.method = "POST"
wrk.body = '{"event":"account.created","accounts":[{"id":"acc_1"},{"id":"acc_2"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Signature"] = "sha256=583668b7633e01f8f49c9650f8f11b4b856e55be79c99adb89e9bf8c273a673e"

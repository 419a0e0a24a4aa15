using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using TrackMulti.Api.Telemetry;
using TrackMulti.Tests.Infrastructure;
using static TrackMulti.Tests.Infrastructure.FmeForwardingCheck;

namespace TrackMulti.Tests.InProcess;

/// <summary>
/// <c>POST /api/replay</c> against an FME stand-in and real S3 (s3rver): what the FME sink dropped, or never took, is
/// delivered from S3 later, in every object layout; live forwarding goes on beside it; bad requests change nothing.
/// (Across a SIGKILL: <c>Processes.ReplayCrashTests</c>.)
/// </summary>
public sealed class ReplayTests : IAsyncLifetime
{
    private readonly FmeForwardingCheck _check = FmeForwardingCheck.InSharedS3rver("replay");

    public Task InitializeAsync() => _check.StartAsync();

    public async Task DisposeAsync() => await _check.DisposeAsync();

    private Task<ApiHost> StartApiAsync(params (string Name, string Value)[] settings) => ApiHost.StartAsync(_check.Bucket, _check.Settings(settings));

    [Theory]
    [InlineData("none", "none", "ndjson", ".ndjson")]
    [InlineData("hourly", "gzip", "ndjson", ".ndjson.gz")]
    [InlineData("daily", "none", "parquet", ".parquet")]
    public async Task After_FME_was_down_past_its_backlog_bound_a_replay_of_the_window_delivers_every_event_S3_holds(
        string partitioning, string compression, string format, string extension)
    {
        using var spans = new RecordedSpans();
        _check.Fme.Answer = HttpStatusCode.ServiceUnavailable;
        await using var api = await StartApiAsync(("BATCH_SIZE", "10"), ("FME_MAX_BACKLOG_BYTES", "3000"),
            ("S3_PARTITIONING", partitioning), ("S3_COMPRESSION", compression), ("S3_FORMAT", format));
        using var replayed = new MetricCollector<long>(api.Services.GetRequiredService<IMeterFactory>(), TrackMetrics.MeterName, TrackMetrics.ReplayEvents);
        var from = DateTimeOffset.UtcNow;
        var ids = Enumerable.Range(0, 60).Select(n => $"r{n}").ToList();
        await TrackAsync(api.Http, ids);
        await SdkPostAsync(api, "/testImpressions/bulk",
            """[{"f":"trackmulti_demo","i":[{"k":"user-1","t":"on","m":1796109259000,"c":5,"r":"default rule"},{"k":"user-2","t":"off","m":1796109259001,"c":5}]}]""");
        using (var flush = await api.Http.PostAsync("/api/flush", null))
        {
            Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        }
        await Poll.UntilAsync(async () => FmeSinkOf(await api.StatusAsync())["droppedEvents"]!.GetValue<long>() > 0, "the FME sink never dropped");

        _check.Fme.Answer = null;
        await Poll.UntilAsync(async () => FmeSinkOf(await api.StatusAsync())["backlogSegments"]!.GetValue<int>() == 0, "live forwarding never caught up");
        var to = DateTimeOffset.UtcNow;
        var missing = ids.Except(_check.Fme.AcceptedEvents().Select(IdOf)).ToList();
        Assert.NotEmpty(missing); // what the bound dropped: only a replay brings it to FME
        Assert.All((await _check.Bucket.ObjectsAsync("")).Select(o => o.Key), key => Assert.EndsWith(extension, key));

        var contract = await ApiContract.FetchAsync(api.Http);
        var body = new JsonObject { ["sink"] = "fme", ["from"] = from.ToString("O"), ["to"] = to.ToString("O") }.ToJsonString();
        Assert.Empty(contract.RequestErrors("POST", "/api/replay", "application/json", body));
        using var started = await api.Http.PostAsync("/api/replay", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var answer = await started.Content.ReadAsStringAsync();
        Assert.Empty(contract.ResponseErrors("POST", "/api/replay", 202, started.Content.Headers.ContentType?.ToString(), answer));
        var replay = Assert.IsType<JsonObject>(JsonNode.Parse(answer));
        Assert.Equal("running", replay["state"]!.GetValue<string>());
        var id = replay["id"]!.GetValue<string>();
        Assert.Equal($"/api/replay/{id}", started.Headers.Location!.OriginalString);

        var done = await WaitUntilFinishedAsync(api.Http, id);
        Assert.Equal("done", done["state"]!.GetValue<string>());
        Assert.Null(done["lastError"]);
        Assert.Equal(done["objects"]!.GetValue<int>(), done["objectsDone"]!.GetValue<int>());
        Assert.InRange(done["objects"]!.GetValue<int>(), 7, 100); // six batches of events, one of impressions, perhaps earlier ones
        Assert.Equal(ids.Count + 2, done["events"]!.GetValue<long>()); // every row of the window, once
        await _check.WaitForFmeAsync(ids);
        var impressions = _check.Fme.PostsTo("/testImpressions/bulk").Where(p => p.Answered == HttpStatusCode.OK).SelectMany(p => p.Impressions()).ToList();
        Assert.Contains(impressions, i => i["k"]!.GetValue<string>() == "user-2" && i["t"]!.GetValue<string>() == "off");

        Assert.Empty(contract.ResponseErrors("GET", "/api/replay/{id}", 200, "application/json", done.ToJsonString()));
        var list = await api.Http.GetStringAsync("/api/replay");
        Assert.Empty(contract.ResponseErrors("GET", "/api/replay", 200, "application/json", list));
        var listed = Assert.IsType<JsonArray>(JsonNode.Parse(list)!["replays"]);
        Assert.Equal(id, Assert.Single(listed)!["id"]!.GetValue<string>());
        replayed.RecordObservableInstruments();
        Assert.Equal(ids.Count + 2, replayed.GetMeasurementSnapshot().Where(m => (string?)m.Tags[TrackMetrics.StateTag] == "sent").Select(m => m.Value).LastOrDefault());
        var span = Assert.Single(spans, s => s.DisplayName == TrackTracing.ReplaySpanName && (string?)s.GetTagItem("trackmulti.replay.id") == id);
        Assert.Contains(spans, s => s.DisplayName == TrackTracing.FmePostSpanName && s.ParentSpanId == span.SpanId);
    }

    [Fact]
    public async Task A_replay_of_events_FME_never_took_goes_beside_live_forwarding_which_it_never_holds_back()
    {
        // FME_FORWARD=sdk: tracked events go to S3 only, until a replay names their stream.
        await using var api = await StartApiAsync(("FME_FORWARD", "sdk"), ("BATCH_SIZE", "10"));
        var from = DateTimeOffset.UtcNow;
        var tracked = Enumerable.Range(0, 300).Select(n => $"t{n}").ToList();
        await TrackAsync(api.Http, tracked);
        var to = DateTimeOffset.UtcNow;
        Assert.Empty(_check.Fme.Posts);
        _check.Fme.Delay = TimeSpan.FromMilliseconds(100); // each of the replay's 30 posts takes a while

        using var started = await api.Http.PostAsJsonAsync("/api/replay", new { sink = "fme", from = from.ToString("O"), to = to.ToString("O"), streams = new[] { "track" } });
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var id = (await started.Content.ReadFromJsonAsync<JsonNode>())!["id"]!.GetValue<string>();
        await Poll.UntilAsync(() => Task.FromResult(_check.Fme.AcceptedEvents().Count > 0), "the replay never posted");

        // Live events while the replay runs: they reach FME before the replay is through.
        var live = Enumerable.Range(0, 5).Select(n => $"live{n}").ToList();
        await SdkPostAsync(api, "/events/bulk", new JsonArray([.. live.Select(n => (JsonNode)new JsonObject
        {
            ["eventTypeId"] = "fme_check", ["trafficTypeName"] = "user", ["key"] = $"user-{n}", ["timestamp"] = 1796109259152,
            ["properties"] = new JsonObject { ["id"] = n },
        })]).ToJsonString());
        using (var flush = await api.Http.PostAsync("/api/flush", null))
        {
            Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        }
        await _check.WaitForFmeAsync(live);
        var meanwhile = (await api.Http.GetFromJsonAsync<JsonNode>($"/api/replay/{id}"))!;
        Assert.Equal("running", meanwhile["state"]!.GetValue<string>());
        Assert.True(meanwhile["objectsDone"]!.GetValue<int>() < meanwhile["objects"]!.GetValue<int>());

        var done = await WaitUntilFinishedAsync(api.Http, id);
        Assert.Equal("done", done["state"]!.GetValue<string>());
        await _check.WaitForFmeAsync(tracked);
        Assert.Equal(tracked.Count, done["events"]!.GetValue<long>());
        Assert.All(_check.Fme.AcceptedEvents().GroupBy(IdOf), sent => Assert.Single(sent)); // no fault, so no event twice
    }

    [Fact]
    public async Task While_live_forwarding_fails_a_replay_waits_and_says_so_then_goes_on_once_it_is_back()
    {
        await using var api = await StartApiAsync(("FME_FORWARD", "sdk"), ("BATCH_SIZE", "10"));
        var from = DateTimeOffset.UtcNow;
        var tracked = Enumerable.Range(0, 30).Select(n => $"w{n}").ToList();
        await TrackAsync(api.Http, tracked);
        var to = DateTimeOffset.UtcNow;
        _check.Fme.Answer = HttpStatusCode.ServiceUnavailable;
        await SdkPostAsync(api, "/events/bulk",
            """[{"eventTypeId":"fme_check","trafficTypeName":"user","key":"user-live","timestamp":1796109259152,"properties":{"id":"live"}}]""");
        using (var flush = await api.Http.PostAsync("/api/flush", null))
        {
            Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        }
        await Poll.UntilAsync(async () => FmeSinkOf(await api.StatusAsync())["consecutiveFailures"]!.GetValue<int>() > 0, "live forwarding never failed");

        using var started = await api.Http.PostAsJsonAsync("/api/replay", new { sink = "fme", from = from.ToString("O"), to = to.ToString("O"), streams = new[] { "track" } });
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var id = (await started.Content.ReadFromJsonAsync<JsonNode>())!["id"]!.GetValue<string>();
        JsonNode waiting = null!;
        await Poll.UntilAsync(async () =>
        {
            waiting = (await api.Http.GetFromJsonAsync<JsonNode>($"/api/replay/{id}"))!;
            return waiting["lastError"]?.GetValue<string>() is { } error && error.Contains("waiting for live forwarding");
        }, "the replay never said it waits for live forwarding");
        Assert.Equal("running", waiting["state"]!.GetValue<string>());
        Assert.Contains("503", waiting["lastError"]!.GetValue<string>());
        await Task.Delay(500);
        Assert.All(_check.Fme.PostsTo("/events/bulk"), post => Assert.Equal(["live"], post.Events().Select(IdOf))); // only live tried

        _check.Fme.Answer = null;
        var done = await WaitUntilFinishedAsync(api.Http, id);
        Assert.Equal("done", done["state"]!.GetValue<string>());
        Assert.Null(done["lastError"]);
        await _check.WaitForFmeAsync([.. tracked, "live"]);
    }

    [Fact]
    public async Task A_replay_sends_only_rows_received_in_its_window_also_of_a_batch_begun_before_it_and_sealed_after()
    {
        await using var api = await StartApiAsync(("FME_FORWARD", "sdk"), ("BATCH_SIZE", "100"));
        await TrackAsync(api.Http, ["before1", "before2"]);
        await Task.Delay(20);
        var from = DateTimeOffset.UtcNow;
        await TrackAsync(api.Http, ["in1", "in2", "in3"]);
        var to = DateTimeOffset.UtcNow;
        await Task.Delay(20);
        await TrackAsync(api.Http, ["after1"]); // all six in one batch, whose key is older than the window

        using var started = await api.Http.PostAsJsonAsync("/api/replay", new { sink = "fme", from = from.ToString("O"), to = to.ToString("O"), streams = new[] { "track" } });
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var done = await WaitUntilFinishedAsync(api.Http, (await started.Content.ReadFromJsonAsync<JsonNode>())!["id"]!.GetValue<string>());

        Assert.Equal("done", done["state"]!.GetValue<string>());
        Assert.Equal(1, done["objects"]!.GetValue<int>());
        Assert.Equal(["in1", "in2", "in3"], _check.Fme.AcceptedEvents().Select(IdOf).Order());
        Assert.Equal(6, (await _check.StoredIdCountsAsync()).Count); // the replay sealed the open batch to read it from S3
    }

    [Fact]
    public async Task A_row_is_received_once_its_whole_request_is_in_so_no_row_is_older_than_its_batch_and_a_replay_finds_it()
    {
        await using var api = await StartApiAsync(("FME_FORWARD", "sdk"), ("BATCH_SIZE", "100"));
        var from = DateTimeOffset.UtcNow;
        var body = Encoding.UTF8.GetBytes(Event("slow").ToJsonString());
        using var slow = new System.Net.Sockets.TcpClient();
        await slow.ConnectAsync(api.Http.BaseAddress!.Host, api.Http.BaseAddress.Port);
        var wire = slow.GetStream();
        await wire.WriteAsync(Encoding.ASCII.GetBytes($"POST /api/track HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n"));
        await wire.WriteAsync(body.AsMemory(0, 10));
        await Task.Delay(300);
        await TrackAsync(api.Http, ["opener"]); // opens the batch while the slow body is still coming
        await Task.Delay(50);
        await wire.WriteAsync(body.AsMemory(10));
        var answer = new byte[1024];
        var read = await wire.ReadAsync(answer);
        Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(answer, 0, read));
        var to = DateTimeOffset.UtcNow;
        using (var flush = await api.Http.PostAsync("/api/flush", null))
        {
            Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
        }

        var stored = Assert.Single(await _check.Bucket.ObjectsAsync());
        Assert.True(TrackMulti.Api.Model.BatchKey.TryReadFirstReceivedAt(stored.Key, out var keyTime));
        Assert.All(stored.Lines(), row => Assert.True(DateTimeOffset.Parse(row["receivedAt"]!.GetValue<string>()) >= keyTime,
            $"{IdOf(row)} was received at {row["receivedAt"]}, before its batch {stored.Key} began"));
        using var started = await api.Http.PostAsJsonAsync("/api/replay", new { sink = "fme", from = from.ToString("O"), to = to.ToString("O"), streams = new[] { "track" } });
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var done = await WaitUntilFinishedAsync(api.Http, (await started.Content.ReadFromJsonAsync<JsonNode>())!["id"]!.GetValue<string>());
        Assert.Equal(["opener", "slow"], _check.Fme.AcceptedEvents().Select(IdOf).Order());
    }

    [Fact]
    public async Task An_object_that_cannot_be_read_is_passed_over_and_counted_and_the_rest_of_the_window_delivered()
    {
        await using var api = await StartApiAsync(("FME_FORWARD", "sdk"), ("BATCH_SIZE", "5"));
        var from = DateTimeOffset.UtcNow;
        await TrackAsync(api.Http, ["g1", "g2"]);
        using (var s3 = _check.Bucket.S3.CreateClient())
        {
            // In the window, named as the Api names a gzip batch, and no gzip at all.
            var key = TrackMulti.Api.Model.BatchKey.For(TrackMulti.Api.Model.Streams.Track, DateTimeOffset.UtcNow, "elsewhere", 1,
                new TrackMulti.Api.Model.ObjectLayout { Compression = TrackMulti.Api.Model.Compression.Gzip });
            await s3.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest { BucketName = _check.Bucket.Name, Key = key, ContentBody = "not gzip", UseChunkEncoding = false });
        }
        await TrackAsync(api.Http, ["g3"]);
        var to = DateTimeOffset.UtcNow;

        using var started = await api.Http.PostAsJsonAsync("/api/replay", new { sink = "fme", from = from.ToString("O"), to = to.ToString("O"), streams = new[] { "track" } });
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var done = await WaitUntilFinishedAsync(api.Http, (await started.Content.ReadFromJsonAsync<JsonNode>())!["id"]!.GetValue<string>());

        Assert.Equal("done", done["state"]!.GetValue<string>());
        Assert.Equal(2, done["objects"]!.GetValue<int>());
        Assert.Equal(1, done["objectsPassedOver"]!.GetValue<int>());
        Assert.Equal(["g1", "g2", "g3"], _check.Fme.AcceptedEvents().Select(IdOf).Order());
        Assert.Contains(api.Logs.GetSnapshot(), log => log.Message.Contains("passes over") && log.Message.Contains("elsewhere"));
    }

    [Fact]
    public async Task A_replay_that_cannot_start_as_asked_is_a_clear_problem_and_leaves_nothing_behind()
    {
        await using var api = await StartApiAsync(("BATCH_SIZE", "5"));
        await TrackAsync(api.Http, ["b1", "b2"]);
        var now = DateTimeOffset.UtcNow;
        string Time(DateTimeOffset t) => t.ToString("O");

        var contract = await ApiContract.FetchAsync(api.Http);
        var operation = contract.Operation("post", "/api/replay")!;
        foreach (var (body, status, type, field) in new (string, HttpStatusCode, string, string?)[]
        {
            ($$"""{"sink":"fme","from":"2020-01-01T00:00:00Z","to":"2020-01-02T00:00:00Z"}""", HttpStatusCode.UnprocessableEntity, "empty-replay-window", null),
            ($$"""{"sink":"fme","from":"{{Time(now)}}","to":"{{Time(now.AddHours(-1))}}"}""", HttpStatusCode.BadRequest, "invalid-replay", "to"),
            ($$"""{"sink":"fme","from":"{{Time(now)}}","to":"{{Time(now)}}"}""", HttpStatusCode.BadRequest, "invalid-replay", "to"),
            ($$"""{"sink":"kafka","from":"{{Time(now.AddHours(-1))}}","to":"{{Time(now)}}"}""", HttpStatusCode.BadRequest, "invalid-replay", "sink"),
            ($$"""{"from":"{{Time(now.AddHours(-1))}}","to":"{{Time(now)}}"}""", HttpStatusCode.BadRequest, "invalid-replay", "sink"),
            ($$"""{"sink":"fme","from":"yesterday","to":"{{Time(now)}}"}""", HttpStatusCode.BadRequest, "invalid-replay", "from"),
            ($$"""{"sink":"fme","from":"2026-12-03T10:00:00","to":"{{Time(now)}}"}""", HttpStatusCode.BadRequest, "invalid-replay", "from"),
            ($$"""{"sink":"fme","from":"{{Time(now.AddHours(-1))}}","to":"{{Time(now.AddHours(1))}}"}""", HttpStatusCode.BadRequest, "invalid-replay", "to"),
            ($$"""{"sink":"fme","from":"{{Time(now.AddHours(-1))}}","to":"{{Time(now)}}","streams":["nope"]}""", HttpStatusCode.BadRequest, "invalid-replay", "streams"),
            ($$"""{"sink":"fme","from":"{{Time(now.AddHours(-1))}}","to":"{{Time(now)}}","streams":[]}""", HttpStatusCode.BadRequest, "invalid-replay", "streams"),
            ($$"""{"sink":"fme","form":"{{Time(now.AddHours(-1))}}","to":"{{Time(now)}}"}""", HttpStatusCode.BadRequest, "invalid-replay", "form"),
            ("""["fme"]""", HttpStatusCode.BadRequest, "invalid-replay", ""),
            ("""{"sink":""", HttpStatusCode.BadRequest, "malformed-json", null),
        })
        {
            using var response = await api.Http.PostAsync("/api/replay", new StringContent(body, Encoding.UTF8, "application/json"));
            var problem = await ProblemAsync(response, status, type);
            Assert.True(ApiContract.DocumentsProblem(operation, (int)status, problem["type"]!.GetValue<string>()), $"{body}: {type} is not documented");
            Assert.Empty(contract.ResponseErrors("POST", "/api/replay", (int)status, "application/problem+json", problem.ToJsonString()));
            if (field is not null)
            {
                Assert.True(problem["errors"]?[field] is JsonArray { Count: > 0 }, $"{body}: no error for '{field}': {problem}");
            }
            // What a schema can say, the document says too: a field's shape, not the window's order, now or contents.
            var schemaSays = field is "sink" or "from" or "streams" or "form" or "" || type == "malformed-json";
            Assert.True(schemaSays == contract.RequestErrors("POST", "/api/replay", "application/json", body).Count > 0, $"{body}: the document disagrees");
        }
        using (var plain = await api.Http.PostAsync("/api/replay", new StringContent("{}", Encoding.UTF8, "text/plain")))
        {
            await ProblemAsync(plain, HttpStatusCode.UnsupportedMediaType, "unsupported-media-type");
        }
        foreach (var id in new[] { "0123456789abcdef", "..%2F..%2Flock", "x" })
        {
            using var unknown = await api.Http.GetAsync($"/api/replay/{id}");
            var problem = await ProblemAsync(unknown, HttpStatusCode.NotFound, "unknown-replay");
            Assert.True(ApiContract.DocumentsProblem(contract.Operation("get", "/api/replay/{id}")!, 404, problem["type"]!.GetValue<string>()));
        }

        Assert.Empty(Assert.IsType<JsonArray>((await api.Http.GetFromJsonAsync<JsonNode>("/api/replay"))!["replays"]));
        Assert.False(Directory.Exists(Path.Combine(_check.Bucket.SpoolDirectory, "replays")), "a refused replay left files behind");
        Assert.Empty(_check.Fme.Posts); // nothing was sent
    }

    [Fact]
    public async Task With_FME_forwarding_off_a_replay_to_FME_is_refused_as_a_conflict()
    {
        await using var api = await StartApiAsync(("FME_FORWARD", "off"));
        var now = DateTimeOffset.UtcNow;
        using var response = await api.Http.PostAsJsonAsync("/api/replay", new { sink = "fme", from = now.AddHours(-1).ToString("O"), to = now.ToString("O") });
        var problem = await ProblemAsync(response, HttpStatusCode.Conflict, "replay-sink-off");
        Assert.Contains("FME_FORWARD is off", problem["detail"]!.GetValue<string>());
    }

    private static JsonObject FmeSinkOf(JsonObject status) =>
        Assert.IsType<JsonObject>(status["sinks"]!.AsArray().Single(s => s!["name"]!.GetValue<string>() == "fme"));

    private static async Task<JsonObject> WaitUntilFinishedAsync(HttpClient api, string id)
    {
        JsonObject replay = null!;
        await Poll.UntilAsync(async () =>
        {
            replay = Assert.IsType<JsonObject>(await api.GetFromJsonAsync<JsonNode>($"/api/replay/{id}"));
            return replay["state"]!.GetValue<string>() != "running";
        }, $"replay {id} never finished", TimeSpan.FromSeconds(90));
        return replay;
    }

    private static async Task<JsonObject> ProblemAsync(HttpResponseMessage response, HttpStatusCode status, string type)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"{(int)response.StatusCode} instead of {(int)status}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = Assert.IsType<JsonObject>(JsonNode.Parse(text));
        Assert.Equal($"urn:trackmulti:problem:{type}", problem["type"]!.GetValue<string>());
        return problem;
    }

    private static async Task SdkPostAsync(ApiHost api, string path, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/fme/api" + path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ServerKey);
        using var response = await api.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}

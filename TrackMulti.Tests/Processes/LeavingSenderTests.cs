using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using TrackMulti.Tests.InProcess;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.Processes;

/// <summary>
/// A request that has fully arrived is stored whether or not its sender waits for the answer: a browser sends a
/// visit's last events (the FME SDK's beacons) as the page closes, and a client may give up on its own timeout. Raw
/// sockets send a whole request and at once close the connection (FIN) or reset it (RST), on every ingest path, to the
/// Api and through the Web (its own process, as deployed), and every one of them is stored, once.
/// </summary>
public sealed class LeavingSenderTests : IAsyncLifetime
{
    private const string IngestKey = "ingest-key-leaving-0123456789ab";
    private const string ClientKey = "client-side-key-leaving-abcdefgh";
    private const long Time = 1796109259152;
    private const int RequestsPerCase = 4;
    private S3rverBucket _bucket = null!;
    private FmeStandIn _fme = null!;
    private ApiHost _api = null!;
    private WebProcess _web = null!;

    public async Task InitializeAsync()
    {
        _bucket = await S3rverBucket.CreateAsync("leaving");
        _fme = await FmeStandIn.StartAsync();
        _api = await ApiHost.StartAsync(_bucket,
            ("INGEST_API_KEY", IngestKey),
            ("HARNESS_FME_API_KEY", ClientKey),
            ("FME_EVENTS_URL", _fme.EventsUrl),
            ("BATCH_MAX_AGE_SECONDS", "3600"));
        _web = await WebProcess.StartAsync(_api.Http.BaseAddress!.ToString().TrimEnd('/'), ClientKey,
            ("INGEST_API_KEY", IngestKey), ("WEB_RATE_LIMIT_PER_SECOND", "0"));
    }

    public async Task DisposeAsync()
    {
        await _web.DisposeAsync();
        await _api.DisposeAsync();
        await _fme.DisposeAsync();
        await _bucket.DisposeAsync();
    }

    /// <summary>An ingest path: its request for one marker, and the rows (prefix, field) that marker lands as.</summary>
    private sealed record IngestPath(string Path, string ContentType, bool Bearer, Func<string, string> Body, string Prefix, string Field, int RowsPerRequest = 1);

    private static readonly IngestPath[] Paths =
    [
        new("/api/track", "application/json", false, id => $$"""{"name":"leave","key":"{{id}}"}""", "events/", "key"),
        new("/api/batch", "application/json", false,
            id => $$"""[{"name":"leave","key":"{{id}}"},{"name":"leave","key":"{{id}}"}]""", "events/", "key", RowsPerRequest: 2),
        new("/fme/api/events/bulk", "application/json", true, SdkEvent, "events/", "key"),
        new("/fme/api/events/beacon", "text/plain", false, id => Beacon(SdkEvent(id)), "events/", "key"),
        new("/fme/api/testImpressions/bulk", "application/json", true, Impression, "impressions/", "key"),
        new("/fme/api/testImpressions/beacon", "text/plain", false, id => Beacon(Impression(id)), "impressions/", "key"),
        new("/fme/api/testImpressions/count", "application/json", true, Count, "impression-counts/", "feature"),
        new("/fme/api/testImpressions/count/beacon", "text/plain", false, id => Beacon(Count(id)), "impression-counts/", "feature"),
    ];

    private static string SdkEvent(string id) =>
        $$"""[{"eventTypeId":"page_hide","trafficTypeName":"user","timestamp":{{Time}},"key":"{{id}}"}]""";

    private static string Impression(string id) =>
        $$"""[{"f":"trackmulti_demo","i":[{"k":"{{id}}","t":"on","m":{{Time}},"c":5,"r":"default rule"}]}]""";

    private static string Count(string id) => $$"""{"pf":[{"f":"{{id}}","m":1796108400000,"rc":1}]}""";

    private static string Beacon(string entries) => $$"""{"entries":{{entries}},"token":"{{ClientKey}}","sdk":"browserjs-1.7.1","sim":"OPTIMIZED"}""";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public Task Every_request_whose_sender_closes_the_connection_once_it_is_sent_is_stored_once(bool throughWeb) =>
        SendAllAndLeaveAsync(throughWeb, reset: false);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public Task Every_request_whose_sender_resets_the_connection_once_it_is_sent_is_stored_once(bool throughWeb) =>
        SendAllAndLeaveAsync(throughWeb, reset: true);

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Pipelined_requests_whose_sender_leaves_after_the_last_are_all_stored_once(bool throughWeb, bool reset)
    {
        var target = new Uri(throughWeb ? _web.Url : _api.Http.BaseAddress!.ToString());
        var ids = Enumerable.Range(0, 3).Select(n => $"piped_{(throughWeb ? "web" : "api")}_{(reset ? "rst" : "fin")}_{n}").ToList();
        var requests = ids.SelectMany(id => Request(target, Paths[0], id, throughWeb)).ToArray();

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, target.Port));
        await socket.SendAsync(requests);
        Leave(socket, reset);

        await WaitUntilStoredAsync([.. ids.Select(id => (Paths[0], id))]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_sender_that_leaves_before_its_body_has_arrived_stores_nothing_and_no_error_is_logged(bool reset)
    {
        var target = _api.Http.BaseAddress!;
        foreach (var (path, index) in Paths.Select((p, i) => (p, i)))
        {
            await SendAndLeaveAsync(target, path, $"half_{reset}_{index}", throughWeb: false, reset, sendHalf: true);
        }
        await SendAndLeaveAsync(target, Paths[0], "whole_after_halves", throughWeb: false, reset: false);

        // A whole request sent after them lands meanwhile; none of the halves does.
        await WaitUntilStoredAsync([(Paths[0], "whole_after_halves")]);
        var lines = (await Task.WhenAll(Paths.Select(p => p.Prefix).Distinct().Select(prefix => _bucket.LinesAsync(prefix)))).SelectMany(l => l);
        Assert.DoesNotContain(lines, line => line.ToJsonString().Contains("half_", StringComparison.Ordinal));
        Assert.DoesNotContain(_api.Logs.GetSnapshot(), record => record.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
    }

    private async Task SendAllAndLeaveAsync(bool throughWeb, bool reset)
    {
        var target = new Uri(throughWeb ? _web.Url : _api.Http.BaseAddress!.ToString());
        var sent = new List<(IngestPath Path, string Id)>();
        foreach (var (path, index) in Paths.Select((p, i) => (p, i)))
        {
            for (var n = 0; n < RequestsPerCase; n++)
            {
                // Letters, digits and underscores: a valid key and a valid flag name alike.
                var id = $"leave_{(throughWeb ? "web" : "api")}_{(reset ? "rst" : "fin")}_{index}_{n}";
                await SendAndLeaveAsync(target, path, id, throughWeb, reset);
                sent.Add((path, id));
            }
        }

        await WaitUntilStoredAsync(sent);
    }

    /// <summary>Flushes until every row of <paramref name="sent"/> is in S3 (each request is answered on its own, after its sender left), then checks each is there once.</summary>
    private async Task WaitUntilStoredAsync(List<(IngestPath Path, string Id)> sent)
    {
        var expected = sent.SelectMany(s => Enumerable.Repeat((s.Path.Prefix, s.Id), s.Path.RowsPerRequest)).Order().ToList();
        string Missing(List<(string Prefix, string Id)> found)
        {
            var missing = expected.Except(found).ToList();
            return $"{missing.Count} of {expected.Distinct().Count()} requests' rows missing, e.g. {string.Join(", ", missing.Take(5))}";
        }
        var stored = await Poll.UntilAsync(async () =>
        {
            using (var flush = await _api.Http.PostAsync("/api/flush", null))
            {
                Assert.Equal(HttpStatusCode.OK, flush.StatusCode);
            }
            return await StoredAsync(sent);
        }, found => found.Count >= expected.Count, Missing, budget: TimeSpan.FromSeconds(30), every: TimeSpan.FromMilliseconds(200));

        Assert.True(!expected.Except(stored).Any(), Missing(stored));
        Assert.Equal(expected, stored); // once each: no request stored twice
    }

    /// <summary>Every row of the markers sent, as (prefix, marker), found in the bucket.</summary>
    private async Task<List<(string Prefix, string Id)>> StoredAsync(List<(IngestPath Path, string Id)> sent)
    {
        var ids = sent.Select(s => s.Id).ToHashSet();
        var rows = new List<(string, string)>();
        foreach (var (prefix, field) in Paths.Select(p => (p.Prefix, p.Field)).Distinct())
        {
            rows.AddRange((await _bucket.LinesAsync(prefix))
                .Select(line => line[field]?.GetValue<string>())
                .Where(id => id is not null && ids.Contains(id))
                .Select(id => (prefix, id!)));
        }
        return [.. rows.Order()];
    }

    /// <summary>Writes the request on a fresh connection and closes it at once: FIN, or RST when <paramref name="reset"/>.</summary>
    /// <param name="sendHalf">Send only the first half of the body (its length still says all of it).</param>
    private static async Task SendAndLeaveAsync(Uri target, IngestPath path, string id, bool throughWeb, bool reset, bool sendHalf = false)
    {
        var request = Request(target, path, id, throughWeb);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, target.Port));
        await socket.SendAsync(sendHalf ? request.AsMemory(0, request.Length - (request.Length - HeadLength(request)) / 2) : request);
        Leave(socket, reset);
    }

    /// <summary>The request's bytes: headers (the Api's key unless the Web adds it), then the body.</summary>
    private static byte[] Request(Uri target, IngestPath path, string id, bool throughWeb)
    {
        var body = Encoding.UTF8.GetBytes(path.Body(id));
        var headers = new StringBuilder()
            .Append($"POST {path.Path} HTTP/1.1\r\nHost: {target.Authority}\r\nContent-Type: {path.ContentType}\r\nContent-Length: {body.Length}\r\n");
        if (path.Bearer)
        {
            headers.Append($"Authorization: Bearer {ClientKey}\r\n");
        }
        if (!throughWeb && !path.Path.StartsWith("/fme/", StringComparison.Ordinal))
        {
            headers.Append($"X-Api-Key: {IngestKey}\r\n"); // the Web adds it itself
        }
        headers.Append("\r\n");
        return [.. Encoding.ASCII.GetBytes(headers.ToString()), .. body];
    }

    private static int HeadLength(byte[] request) => request.AsSpan().IndexOf("\r\n\r\n"u8) + 4;

    /// <summary>Closes at once: FIN, or RST when <paramref name="reset"/>.</summary>
    private static void Leave(Socket socket, bool reset)
    {
        if (reset)
        {
            socket.LingerState = new LingerOption(true, 0); // close sends RST, not FIN
        }
        else
        {
            socket.Shutdown(SocketShutdown.Send);
        }
        socket.Close();
    }
}

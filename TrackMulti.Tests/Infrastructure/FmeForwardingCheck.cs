using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace TrackMulti.Tests.Infrastructure;

/// <summary>
/// What the FME forwarding tests share, in process and across a crash: the Api's settings for an FME stand-in,
/// events that carry an id, and what S3 and FME got of them.
/// </summary>
internal sealed class FmeForwardingCheck(S3rverBucket bucket, FmeStandIn fme)
{
    public const string ServerKey = "server-side-key-0123456789";

    /// <summary>Forward everything to the stand-in with the server's key, retry quickly, seal by count only.</summary>
    public (string Name, string Value)[] Settings(params (string Name, string Value)[] more) =>
    [
        ("FME_EVENTS_URL", fme.EventsUrl),
        ("FME_FORWARD", "all"),
        ("HARNESS_FME_API_KEY", "client-side-key"),
        ("HARNESS_FME_SERVER_KEY", ServerKey),
        ("FME_RETRIES", "1"),
        ("FME_RETRY_BASE_DELAY_MS", "10"),
        ("FME_PAUSE_MAX_SECONDS", "1"),
        ("BATCH_MAX_AGE_SECONDS", "3600"),
        .. more,
    ];

    public static JsonObject Event(string id, bool withKey = true)
    {
        var evt = new JsonObject
        {
            ["trafficType"] = "user",
            ["name"] = "fme_check",
            ["value"] = 1.5,
            ["properties"] = new JsonObject { ["id"] = id },
        };
        if (withKey)
        {
            evt["key"] = $"user-{id}";
        }
        return evt;
    }

    public static string IdOf(JsonObject evt) => evt["properties"]!["id"]!.GetValue<string>();

    public static async Task TrackAsync(HttpClient api, IEnumerable<string> ids, bool withKey = true)
    {
        foreach (var id in ids)
        {
            using var response = await api.PostAsJsonAsync("/api/track", Event(id, withKey));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    public async Task<Dictionary<string, int>> StoredIdCountsAsync() =>
        (await bucket.LinesAsync()).GroupBy(IdOf).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>
    /// Waits until FME accepted every one of <paramref name="ids"/> (at least once). Each look parses every post the
    /// stand-in accepted, thousands of events in the crash tests: every 100 ms, within 60 s.
    /// </summary>
    public Task WaitForFmeAsync(IReadOnlyCollection<string> ids) => Poll.UntilAsync(
        () => Task.FromResult(ids.Except(fme.AcceptedEvents().Select(IdOf)).ToList()),
        missing => missing.Count == 0,
        missing => $"FME never received {missing.Count} events, for example {string.Join(", ", missing.Take(5))}",
        budget: TimeSpan.FromSeconds(60), every: TimeSpan.FromMilliseconds(100));
}

using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.Testing;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.WholeApp;

/// <summary>The whole stack with <c>API_REPLICAS=3</c> on one spool folder: the Web spreads its calls over them.</summary>
public sealed class ReplicatedAppTests : IAsyncLifetime
{
    private const string Bucket = "replicated-app";
    private readonly string _s3rverData = TestPaths.NewTemporaryDirectory("replicated-s3rver");
    private readonly string _spool = TestPaths.NewTemporaryDirectory("replicated-spool");
    private DistributedApplication _app = null!;
    private ResourceErrorLog _errors = null!;

    public async Task InitializeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.TrackMulti_AppHost>(
            ["S3_EMULATOR=s3rver", $"S3RVER_DATA_DIR={_s3rverData}", $"S3_BUCKET_NAME={Bucket}", $"SPOOL_DIR={_spool}",
             "API_REPLICAS=3", "BATCH_MAX_AGE_SECONDS=1", "PORT=", "TRACKMULTI_DOTENV="], cts.Token);
        _app = await builder.BuildAsync(cts.Token);
        _errors = ResourceErrorLog.Watch(_app);
        await _app.StartAsync(cts.Token);
        await _app.ResourceNotifications.WaitForResourceHealthyAsync("web", cts.Token);
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _errors.DisposeAsync();
        await _app.DisposeAsync();
        foreach (var directory in new[] { _s3rverData, _spool })
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    [Fact]
    public async Task Events_through_the_Web_reach_the_replicas_and_land_once()
    {
        using var web = _app.CreateHttpClient("web");
        var run = Guid.NewGuid().ToString("N");
        var sends = Enumerable.Range(0, 30).Select(async n =>
        {
            using var response = await web.PostAsJsonAsync("/api/track",
                new JsonObject { ["name"] = "replicated", ["properties"] = new JsonObject { ["run"] = run, ["n"] = n } });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        });
        await Task.WhenAll(sends); // side by side, as browsers send: the forwarder opens connections to both
        var answered = new HashSet<string>();
        await Poll.UntilAsync(async () =>
        {
            var statuses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => web.GetFromJsonAsync<JsonObject>("/api/status")));
            answered.UnionWith(statuses.Select(status => status!["instanceId"]!.GetValue<string>()));
            return answered;
        }, seen => seen.Count >= 2, seen => $"only {string.Join(", ", seen)} answered", // replicas behind one address
            every: TimeSpan.FromMilliseconds(500));

        // Each replica seals its batch a second after its first event (a flush reaches only the replica that answers it).
        using var s3 = S3rverProcess.CreateClient(_app.GetEndpoint("s3", "http").ToString());
        var stored = await Poll.UntilAsync(async () =>
        {
            List<int> ns = [.. (await StoredObject.ReadAllAsync(s3, Bucket)).SelectMany(o => o.Lines())
                .Where(line => line["properties"]!["run"]?.GetValue<string>() == run)
                .Select(line => line["properties"]!["n"]!.GetValue<int>())];
            return ns;
        }, found => found.Count >= 30, found => $"{found.Count} of the 30 events in S3", budget: TimeSpan.FromSeconds(60), every: TimeSpan.FromMilliseconds(500));
        Assert.Equal(Enumerable.Range(0, 30), stored.Order());
        // A folder per replica, side by side (and the replays' folder, once there is a replay).
        Assert.Equal(3, Directory.GetDirectories(_spool).Count(folder => Path.GetFileName(folder) != TrackMulti.Api.Spool.SpoolFolders.ReplaysFolder));
        _errors.WaitUntilQuiet(TimeSpan.FromMilliseconds(100), atMost: TimeSpan.FromSeconds(2));
        // Its health check finds no bucket the first time and creates it; nothing else may log an error.
        Assert.DoesNotContain(_errors.Since(0), error => !(error.Resource == "s3" && error.Text.Contains("No bucket found for")));
    }
}

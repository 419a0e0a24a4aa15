using System.Text.Json.Nodes;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.AppHost;

/// <summary>The deploy manifest, generated the documented way: `dotnet run --project TrackMulti.AppHost -- --publisher manifest`.</summary>
public sealed class ManifestTests
{
    [Fact]
    public async Task The_manifest_has_the_two_services_and_their_parameters_and_no_emulator_or_local_path()
    {
        var output = Path.Combine(TestPaths.NewTemporaryDirectory("manifest"), "aspire-manifest.json");
        await using (var publish = ChildProcess.Start(
            "dotnet",
            ["run", "--project", Path.Combine(TestPaths.RepositoryRoot, "TrackMulti.AppHost"), "--no-build", "-c", TestPaths.Configuration,
                "--", "--publisher", "manifest", "--output-path", output],
            new Dictionary<string, string?> { ["TRACKMULTI_DOTENV"] = "", ["S3_EMULATOR"] = "s3rver" }))
        {
            await Poll.UntilAsync(() => publish.HasExited || File.Exists(output), budget: TimeSpan.FromMinutes(2), every: TimeSpan.FromMilliseconds(200));
            await Task.Delay(500); // let the writer finish
            Assert.True(File.Exists(output), publish.Output);
        }

        var resources = Assert.IsType<JsonObject>(JsonNode.Parse(await File.ReadAllTextAsync(output))!["resources"]);

        // Emulators exist in run mode only, even when S3_EMULATOR asks for one.
        Assert.Equal(
            ["admin-api-key", "api", "aws-region", "fme-api-key", "fme-server-key", "ingest-api-key", "s3-bucket-name", "web"],
            resources.Select(r => r.Key).Order());
        Assert.True(resources["ingest-api-key"]!["inputs"]!["value"]!["secret"]!.GetValue<bool>());
        Assert.True(resources["admin-api-key"]!["inputs"]!["value"]!["secret"]!.GetValue<bool>());
        Assert.Equal("{ingest-api-key.value}", resources["api"]!["env"]!["INGEST_API_KEY"]!.GetValue<string>());
        Assert.Equal("{ingest-api-key.value}", resources["web"]!["env"]!["INGEST_API_KEY"]!.GetValue<string>());
        Assert.Equal("project.v0", resources["api"]!["type"]!.GetValue<string>());
        Assert.Equal("project.v0", resources["web"]!["type"]!.GetValue<string>());
        Assert.True(resources["fme-api-key"]!["inputs"]!["value"]!["secret"]!.GetValue<bool>());
        Assert.True(resources["fme-server-key"]!["inputs"]!["value"]!["secret"]!.GetValue<bool>());
        Assert.Equal("trackmulti-events", resources["s3-bucket-name"]!["inputs"]!["value"]!["default"]!["value"]!.GetValue<string>());

        var apiEnv = resources["api"]!["env"]!.AsObject();
        Assert.Equal("{s3-bucket-name.value}", apiEnv["S3_BUCKET_NAME"]!.GetValue<string>());
        Assert.Equal("{aws-region.value}", apiEnv["AWS_REGION"]!.GetValue<string>());
        Assert.False(apiEnv.ContainsKey("AWS_ENDPOINT_URL_S3"));
        Assert.False(apiEnv.ContainsKey("SPOOL_DIR")); // a local path has no meaning in a deployment
        Assert.Equal("{fme-server-key.value}", apiEnv["HARNESS_FME_SERVER_KEY"]!.GetValue<string>());
        Assert.Equal("{fme-api-key.value}", apiEnv["HARNESS_FME_API_KEY"]!.GetValue<string>());
        var webEnv = resources["web"]!["env"]!.AsObject();
        Assert.False(webEnv.ContainsKey("HARNESS_FME_SERVER_KEY")); // never near the browser
        Assert.Equal("{fme-api-key.value}", webEnv["HARNESS_FME_API_KEY"]!.GetValue<string>());
        Assert.Equal("{api.bindings.http.url}", webEnv["services__api__http__0"]!.GetValue<string>());
        Assert.True(resources["web"]!["bindings"]!["http"]!["external"]!.GetValue<bool>());
        Assert.DoesNotContain(TestPaths.RepositoryRoot, resources["api"]!["env"]!.ToJsonString());

        // Each service carries its health endpoints for the platform's probes.
        foreach (var service in new[] { "api", "web" })
        {
            var probes = resources[service]!["probes"]!.AsArray()
                .ToDictionary(p => p!["type"]!.GetValue<string>(), p => (p!["path"]!.GetValue<string>(), p!["endpoint"]!.GetValue<string>()));
            Assert.Equal(("/ready", "http"), probes["readiness"]);
            Assert.Equal(("/alive", "http"), probes["liveness"]);
        }
    }
}

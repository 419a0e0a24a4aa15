using System.Text.Json.Nodes;

namespace TrackMulti.Tests.Infrastructure;

/// <summary>
/// What most Api tests start from: a real s3rver with one bucket, and a spool folder for the Api under test.
/// Owned by a test class (created per test) or a class fixture.
/// </summary>
internal sealed class S3rverBucket : IAsyncDisposable
{
    private S3rverBucket(S3rverProcess s3, string name, string spoolDirectory)
    {
        S3 = s3;
        Name = name;
        SpoolDirectory = spoolDirectory;
    }

    public S3rverProcess S3 { get; }
    public string Name { get; }
    public string SpoolDirectory { get; }

    /// <summary>The spool folder of the Api started against this bucket (its default instance id's).</summary>
    public string ApiSpool => Path.Combine(SpoolDirectory, ApiProcess.DefaultInstanceId);

    public static async Task<S3rverBucket> StartAsync(string name)
    {
        var s3 = await S3rverProcess.StartAsync();
        await s3.CreateBucketAsync(name);
        return new S3rverBucket(s3, name, TestPaths.NewTemporaryDirectory($"{name}-spool"));
    }

    /// <summary>The Api (<see cref="ApiProcess.StartAgainstAsync"/>) against this bucket, with this spool.</summary>
    public Task<ApiProcess> StartApiAsync(params (string Name, string Value)[] settings) =>
        ApiProcess.StartAgainstAsync(S3, Name, SpoolDirectory, settings);

    public async Task<IReadOnlyList<StoredObject>> ObjectsAsync(string prefix = "events/")
    {
        using var client = S3.CreateClient();
        return await StoredObject.ReadAllAsync(client, Name, prefix);
    }

    /// <summary>Every stored NDJSON line under <paramref name="prefix"/>, objects in key order.</summary>
    public async Task<List<JsonObject>> LinesAsync(string prefix = "events/") => [.. (await ObjectsAsync(prefix)).SelectMany(o => o.Lines())];

    public async ValueTask DisposeAsync()
    {
        await S3.DisposeAsync();
        try
        {
            Directory.Delete(SpoolDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace TrackMulti.Tests.Infrastructure;

/// <summary>
/// A real S3 emulator (the npm s3rver the AppHost build installs) on a free loopback port and a private data folder.
/// It can be stopped and started again on the same port and folder to simulate an S3 outage.
/// </summary>
internal sealed class S3rverProcess : IAsyncDisposable
{
    public const string AccessKey = "S3RVER";

    private ChildProcess? _process;

    private S3rverProcess(int port, string dataDirectory)
    {
        Port = port;
        DataDirectory = dataDirectory;
    }

    public int Port { get; }
    public string DataDirectory { get; }
    public string Url => $"http://127.0.0.1:{Port}";

    public static async Task<S3rverProcess> StartAsync()
    {
        if (!File.Exists(TestPaths.S3rverScript))
        {
            throw new InvalidOperationException($"s3rver is not installed at {TestPaths.S3rverScript}; building TrackMulti.AppHost installs it (npm ci).");
        }
        var s3 = new S3rverProcess(ChildProcess.FreeTcpPort(), TestPaths.NewTemporaryDirectory("s3rver"));
        await s3.StartAgainAsync();
        return s3;
    }

    public async Task StartAgainAsync()
    {
        _process = ChildProcess.Start(
            "node",
            [TestPaths.S3rverScript, "--directory", DataDirectory, "--address", "127.0.0.1", "--port", Port.ToString(), "--silent"],
            new Dictionary<string, string?> { ["NODE_OPTIONS"] = "--openssl-legacy-provider" });
        await _process.WaitForHttpAsync(Url + "/", TimeSpan.FromSeconds(20));
    }

    public async Task StopAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
            _process = null;
        }
    }

    public AmazonS3Client CreateClient() => CreateClient(Url);

    public static AmazonS3Client CreateClient(string serviceUrl) => new(
        new BasicAWSCredentials(AccessKey, AccessKey),
        new AmazonS3Config { ServiceURL = serviceUrl, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });

    public async Task CreateBucketAsync(string bucket)
    {
        using var client = CreateClient();
        await client.PutBucketAsync(new PutBucketRequest { BucketName = bucket });
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

// kubelab/hello's server, as the Kubernetes bootcamp image keeps its server.js here (its tutorials
// `cat server.js`). This image has no Node.js: it runs the same server with busybox
// (/usr/local/bin/hello-server, one /usr/local/bin/hello-handler per connection). Written in Node.js,
// it would be:
var http = require('http');
var host = process.env.HOSTNAME;

var handleRequest = function(request, response) {
  console.error("hello v=@VERSION@: " + request.method + " " + request.url + " HTTP/" + request.httpVersion);
  response.setHeader('Content-Type', 'text/plain; charset=utf-8');
  response.writeHead(200);
  response.end("Hello kubelab! | Running on: " + host + " | v=@VERSION@\n");
};

http.createServer(handleRequest).listen(process.env.PORT || 8080, function () {
  console.error("hello v=@VERSION@ listening on port " + (process.env.PORT || 8080));
});
